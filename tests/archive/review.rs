//! What the `serve` tests share: a small archive with two spaces, a post with a
//! threaded reply that was edited, a removed message, attachments (one image, one
//! in the other space) and hostile content in bodies, titles, names and attachment
//! names; accounts; and `serve` itself on a free port, with a client that keeps
//! its own cookies and follows no redirect.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::helpers::{binary, TestArchive};

pub const SPACE_A: &str = "a0000000000000000000000a";
pub const SPACE_B: &str = "b0000000000000000000000b";
pub const POST: &str = "c00000000000000000000001";
pub const REPLY: &str = "c00000000000000000000002";
pub const REMOVED: &str = "c00000000000000000000003";
pub const HOSTILE: &str = "c00000000000000000000004";
pub const WITH_FILES: &str = "c00000000000000000000005";
pub const SECRET: &str = "d00000000000000000000001";
pub const IMAGE_FILE: &str = "file-image";
pub const SECRET_FILE: &str = "file-secret";
pub const ADMIN_PASSWORD: &str = "correct horse battery";
pub const REVIEWER_PASSWORD: &str = "another long password";

/// The hostile strings, each of which must stay inert.
pub const ATTACKS: &[&str] = &[
    "<script>alert('t')</script>",
    "<img src=x onerror=alert('img')>",
    "<b onmouseover=alert('n')>",
    "<script>alert('f')</script>",
];

/// The smallest valid PNG (1×1, transparent).
pub const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae,
    0x42, 0x60, 0x82,
];

fn person(id: &str, name: &str) -> Value {
    json!({"_id": id, "displayname": name, "username": format!("{id}@example.com"), "type": "user"})
}

fn space(id: &str, title: &str, modified: &str, members: &[(&str, &str, &str)]) -> Value {
    let members: Vec<Value> = members
        .iter()
        .map(|(id, name, joined)| {
            json!({"member": id, "memberType": "userId", "displayname": name, "role": "member",
                   "joinTime": joined, "username": ""})
        })
        .collect();
    json!({"category": "topic.updated", "content": {"_id": id, "title": title, "type": "group",
           "status": 0, "created": "2024-01-01T00:00:00Z", "modified": modified, "members": members}})
}

#[allow(clippy::too_many_arguments)]
fn message(
    category: &str,
    id: &str,
    space: (&str, &str),
    sender: Value,
    created: &str,
    modified: &str,
    body_html: &str,
    data: Value,
) -> Value {
    json!({"_id": id, "category": category, "topicId": space.0, "topicTitle": space.1, "topicType": "group",
           "created": created, "modified": modified, "sender": sender,
           "content": {"bodyText": body_html, "description": "", "data": data}})
}

/// The archive's input, one JSON payload per line.
pub fn stream() -> String {
    let ann = person("u1", "Ann Lee");
    let mallory = person("u2", "<b onmouseover=alert('n')>Mallory</b>");
    let a = (SPACE_A, "Release train");
    let b = (SPACE_B, "Board room");
    let mut post = message(
        "idea",
        POST,
        a,
        ann.clone(),
        "2024-01-02T09:00:00Z",
        "2024-01-02T09:00:00Z",
        "<p>Quarterly budget forecast</p>",
        json!([]),
    );
    post["content"]["description"] = "<p>numbers for the quarter</p>".into();
    let mut reply = message(
        "chat",
        REPLY,
        a,
        ann.clone(),
        "2024-01-03T09:00:00Z",
        "2024-01-03T09:00:00Z",
        "<p>first draft of the budget</p>",
        json!([]),
    );
    reply["parentMsg"] = POST.into();
    let mut edit = reply.clone();
    edit["category"] = "app.event.message.updated".into();
    edit["modified"] = "2024-01-04T09:00:00Z".into();
    edit["content"]["bodyText"] = "<p>final draft of the budget numbers</p>".into();
    let removed = message(
        "chat",
        REMOVED,
        a,
        mallory.clone(),
        "2024-01-05T09:00:00Z",
        "2024-01-05T09:00:00Z",
        "<p>&lt;img src=x onerror=alert('img')&gt; budget leak</p>",
        json!([]),
    );
    let mut removal = removed.clone();
    removal["category"] = "app.event.message.removed".into();
    removal["messageId"] = REMOVED.into();
    removal["modified"] = "2024-01-07T09:00:00Z".into();
    removal["sender"] = ann.clone();
    let hostile = message("chat", HOSTILE, a, mallory.clone(), "2024-01-06T09:00:00Z", "2024-01-06T09:00:00Z",
        "<p><a href=\"javascript:alert('js')\">click the budget</a> &lt;script&gt;alert('s')&lt;/script&gt;</p>",
        json!([]));
    let files = message(
        "chat",
        WITH_FILES,
        a,
        ann.clone(),
        "2024-01-06T10:00:00Z",
        "2024-01-06T10:00:00Z",
        "<p>budget chart attached</p>",
        json!([
            {"fileId": IMAGE_FILE, "name": "<script>alert('f')</script>.png", "fileType": "image",
             "providerFileType": "image/png", "fileSize": PNG.len(), "provider": "google"},
            {"fileId": "file-pending", "name": "minutes.pdf", "fileType": "document",
             "providerFileType": "application/pdf", "fileSize": 2048, "provider": "google"}
        ]),
    );
    let secret = message(
        "chat",
        SECRET,
        b,
        ann.clone(),
        "2024-01-06T11:00:00Z",
        "2024-01-06T11:00:00Z",
        "<p>budget secret of the board</p>",
        json!([{"fileId": SECRET_FILE, "name": "board.png", "fileType": "image",
                "providerFileType": "image/png", "fileSize": PNG.len(), "provider": "google"}]),
    );
    let lines = [
        space(
            SPACE_A,
            "Release train",
            "2024-01-01T00:00:00Z",
            &[("u1", "Ann Lee", "2024-01-01T00:00:00Z")],
        ),
        space(
            SPACE_B,
            "Board room",
            "2024-01-01T00:00:00Z",
            &[("u1", "Ann Lee", "2024-01-01T00:00:00Z")],
        ),
        post,
        reply,
        edit,
        removed,
        removal,
        hostile,
        files,
        secret,
        space(
            SPACE_A,
            "Release train <script>alert('t')</script>",
            "2024-02-01T00:00:00Z",
            &[
                ("u1", "Ann Lee", "2024-01-01T00:00:00Z"),
                (
                    "u2",
                    "<b onmouseover=alert('n')>Mallory</b>",
                    "2024-01-20T00:00:00Z",
                ),
            ],
        ),
    ];
    lines.iter().map(|l| format!("{l}\n")).collect()
}

/// An archive of [`stream`], with the two images' bytes stored as a fetch stores
/// them (`files/<sha256>`, the row `stored`), an admin `ana` and a reviewer `rev`
/// limited to space A.
pub async fn review_archive() -> TestArchive {
    let archive = TestArchive::new();
    let run = archive.ingest_text("review.jsonl", &stream());
    assert_eq!(run.code, 0, "ingest: {}", run.stderr);
    store_file(&archive.data_dir(), IMAGE_FILE, PNG).await;
    store_file(&archive.data_dir(), SECRET_FILE, PNG).await;
    let add = archive.run_with_stdin(
        &["users", "add", "ana", "--role", "admin", "--password-stdin"],
        format!("{ADMIN_PASSWORD}\n").as_bytes(),
    );
    assert_eq!(add.code, 0, "users add: {}", add.stderr);
    let add = archive.run_with_stdin(
        &[
            "users",
            "add",
            "rev",
            "--role",
            "reviewer",
            "--space",
            SPACE_A,
            "--password-stdin",
        ],
        format!("{REVIEWER_PASSWORD}\n").as_bytes(),
    );
    assert_eq!(add.code, 0, "users add: {}", add.stderr);
    archive
}

/// Stores `bytes` as the file `file_id` (as the fetcher does).
pub async fn store_file(data_dir: &Path, file_id: &str, bytes: &[u8]) {
    use sqlx::Connection;
    let sha = spaces_archive::files::content::hex(&Sha256::digest(bytes));
    let dir = data_dir.join("files");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(&sha), bytes).unwrap();
    let options =
        sqlx::sqlite::SqliteConnectOptions::new().filename(data_dir.join("archive.sqlite"));
    let mut db = sqlx::SqliteConnection::connect_with(&options)
        .await
        .unwrap();
    let done = sqlx::query("UPDATE files SET status = 'stored', sha256 = ?, size = ?, fetched_at = 1 WHERE file_id = ?")
        .bind(&sha)
        .bind(bytes.len() as i64)
        .bind(file_id)
        .execute(&mut db)
        .await
        .unwrap();
    assert_eq!(done.rows_affected(), 1, "no queued file {file_id}");
}

/// A running `serve`.
pub struct Server {
    child: Child,
    pub base: String,
    pub log: std::path::PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `serve` on a free port with `extra` flags; returns once it answers.
pub async fn serve(archive: &TestArchive, extra: &[&str]) -> Server {
    let port = free_port();
    let log = archive.dir.path().join(format!("serve-{port}.log"));
    let scheme = if extra.contains(&"--tls-cert") {
        "https"
    } else {
        "http"
    };
    let child = binary()
        .arg("--data-dir")
        .arg(archive.data_dir())
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("spawn serve");
    let server = Server {
        child,
        base: format!("{scheme}://127.0.0.1:{port}"),
        log,
    };
    let client = Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = client
            .http
            .get(format!("{}/login", server.base))
            .send()
            .await
        {
            if r.status().is_success() {
                return server;
            }
        }
        assert!(
            Instant::now() < deadline,
            "serve did not answer: {}",
            std::fs::read_to_string(&server.log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// An answer, read whole.
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
    pub bytes: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    }

    /// The first `name="csrf" value="…"` of the page.
    pub fn csrf(&self) -> String {
        let at = self
            .body
            .find("name=\"csrf\" value=\"")
            .expect("a form with a CSRF token")
            + 19;
        self.body[at..at + 64].to_string()
    }
}

/// A browser-like client: its own cookie jar, no redirects followed.
pub struct Client {
    pub http: reqwest::Client,
    pub cookies: HashMap<String, String>,
    pub headers: Vec<(String, String)>,
}

impl Client {
    pub fn new() -> Client {
        spaces_archive::tls::install_crypto();
        Client {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .danger_accept_invalid_certs(true)
                .build()
                .unwrap(),
            cookies: HashMap::new(),
            headers: Vec::new(),
        }
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> Answer {
        let mut request = request;
        if !self.cookies.is_empty() {
            let jar: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            request = request.header("cookie", jar.join("; "));
        }
        for (k, v) in &self.headers {
            request = request.header(k.as_str(), v.as_str());
        }
        let response = request.send().await.expect("request");
        for value in response.headers().get_all("set-cookie") {
            let text = value.to_str().unwrap();
            let pair = text.split(';').next().unwrap();
            let (k, v) = pair.split_once('=').unwrap();
            if v.is_empty() || text.contains("Max-Age=0") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_string(), v.to_string());
            }
        }
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("body").to_vec();
        Answer {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
            bytes,
        }
    }

    pub async fn get(&mut self, url: &str) -> Answer {
        let request = self.http.get(url);
        self.send(request).await
    }

    pub async fn post(&mut self, url: &str, form: &[(&str, &str)]) -> Answer {
        let mut body = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in form {
            body.append_pair(k, v);
        }
        let request = self
            .http
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.finish());
        self.send(request).await
    }

    /// Logs in through the form; returns the answer to the POST.
    pub async fn login(&mut self, base: &str, user: &str, password: &str) -> Answer {
        let page = self.get(&format!("{base}/login")).await;
        let csrf = page.csrf();
        self.post(
            &format!("{base}/login"),
            &[
                ("username", user),
                ("password", password),
                ("csrf", &csrf),
                ("next", "/search"),
            ],
        )
        .await
    }
}
