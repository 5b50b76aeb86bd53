//! `serve` over HTTP, against the real binary: every page needs a session, logins
//! are checked and throttled, forms need their CSRF token, a reviewer limited to a
//! space gets nothing of another through any route, hostile content comes back
//! escaped, and every action lands in the audit log, whose chain `audit verify`
//! checks.

use crate::helpers::TestArchive;
use crate::review::*;

const PAGES: &[&str] = &[
    "/",
    "/search?q=budget",
    "/spaces/a0000000000000000000000a",
    "/spaces/a0000000000000000000000a/about",
    "/messages/c00000000000000000000002",
    "/files/file-image",
    "/audit",
    "/exports/00",
    "/no/such/page",
];

#[tokio::test]
async fn without_a_session_every_page_but_login_refuses_or_redirects() {
    let archive = review_archive().await;
    let server = serve(&archive, &[]).await;
    let mut client = Client::new();
    for page in PAGES {
        let answer = client.get(&format!("{}{page}", server.base)).await;
        assert_eq!(answer.status, 303, "{page}");
        assert!(
            answer.header("location").starts_with("/login?next="),
            "{page}: {}",
            answer.header("location")
        );
        assert!(!answer.body.contains("budget"), "{page} leaked content");
    }
    for page in ["/export", "/logout"] {
        let answer = client
            .post(&format!("{}{page}", server.base), &[("csrf", "x")])
            .await;
        assert_eq!(answer.status, 401, "{page}");
    }
    let login = client.get(&format!("{}/login", server.base)).await;
    assert_eq!(login.status, 200);
    assert!(login.body.contains("name=\"username\"") && login.body.contains("name=\"password\""));
}

#[tokio::test]
async fn a_wrong_password_does_not_log_in_and_failures_are_throttled() {
    let archive = review_archive().await;
    let server = serve(&archive, &[]).await;
    let mut client = Client::new();
    let wrong = client.login(&server.base, "ana", "not the password").await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains("Wrong user name or password"));
    assert!(!client.cookies.contains_key("sa_session"));
    let nobody = client.login(&server.base, "nobody", "whatever").await;
    assert_eq!(nobody.status, 401);
    for _ in 0..3 {
        client.login(&server.base, "ana", "still wrong").await;
    }
    // Five failures: the right password must now wait too.
    let throttled = client.login(&server.base, "ana", ADMIN_PASSWORD).await;
    assert_eq!(throttled.status, 429, "{}", throttled.body);
    assert!(throttled.body.contains("Too many failed logins"));
    assert!(!throttled.header("retry-after").is_empty());
    assert!(!client.cookies.contains_key("sa_session"));
    // Another account from another client is not held up by ana's failures… but
    // this address is: the reviewer from the same address waits as well.
    let mut other = Client::new();
    assert_eq!(
        other
            .login(&server.base, "rev", REVIEWER_PASSWORD)
            .await
            .status,
        429
    );
}

#[tokio::test]
async fn login_search_and_logout() {
    let archive = review_archive().await;
    let server = serve(&archive, &[]).await;
    let mut client = Client::new();
    let ok = client.login(&server.base, "ana", ADMIN_PASSWORD).await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    assert_eq!(ok.header("location"), "/search");
    let cookie = ok.header("set-cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "no TLS, no Secure: {cookie}");
    let page = client
        .get(&format!("{}/search?q=budget", server.base))
        .await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("<strong>6</strong> messages match"),
        "{}",
        page.body
    );
    assert!(page.body.contains("<mark>budget</mark>"));
    assert!(
        page.body.contains(&format!("?around={SECRET}")),
        "the admin sees every space"
    );
    let csrf = page.csrf();
    let out = client
        .post(&format!("{}/logout", server.base), &[("csrf", &csrf)])
        .await;
    assert_eq!(out.status, 303);
    assert!(!client.cookies.contains_key("sa_session"));
    assert_eq!(
        client
            .get(&format!("{}/search?q=budget", server.base))
            .await
            .status,
        303
    );
}

#[tokio::test]
async fn forms_without_their_csrf_token_are_refused() {
    let archive = review_archive().await;
    let server = serve(&archive, &[]).await;
    let mut client = Client::new();
    // A login form posted without the token its page set.
    client.get(&format!("{}/login", server.base)).await;
    let forged = client
        .post(
            &format!("{}/login", server.base),
            &[("username", "ana"), ("password", ADMIN_PASSWORD)],
        )
        .await;
    assert_eq!(forged.status, 403);
    assert!(!client.cookies.contains_key("sa_session"));
    // A second login page (another tab, or a browser's favicon request sent to
    // the login page) keeps the first page's form valid; a made-up token does not.
    let first = client.get(&format!("{}/login", server.base)).await.csrf();
    let second = client
        .get(&format!("{}/login?next=/favicon.ico", server.base))
        .await;
    assert_eq!(second.csrf(), first);
    let mut stranger = Client::new();
    stranger.cookies.insert("sa_login".into(), "1".repeat(64));
    let made_up = stranger
        .post(
            &format!("{}/login", server.base),
            &[
                ("username", "ana"),
                ("password", ADMIN_PASSWORD),
                ("csrf", &"2".repeat(64)),
            ],
        )
        .await;
    assert_eq!(made_up.status, 403);
    assert_eq!(
        client
            .login(&server.base, "ana", ADMIN_PASSWORD)
            .await
            .status,
        303
    );
    let export = client
        .post(&format!("{}/export", server.base), &[("q", "budget")])
        .await;
    assert_eq!(export.status, 403);
    let wrong = "0".repeat(64);
    let logout = client
        .post(&format!("{}/logout", server.base), &[("csrf", &wrong)])
        .await;
    assert_eq!(logout.status, 403);
    assert_eq!(
        client.get(&format!("{}/search", server.base)).await.status,
        200,
        "still logged in"
    );
}

#[tokio::test]
async fn a_reviewer_limited_to_one_space_gets_nothing_of_another() {
    let archive = review_archive().await;
    let server = serve(&archive, &[]).await;
    let base = &server.base;
    let mut rev = Client::new();
    assert_eq!(rev.login(base, "rev", REVIEWER_PASSWORD).await.status, 303);
    let search = rev.get(&format!("{base}/search?q=budget")).await;
    assert!(
        search.body.contains("<strong>5</strong> messages match"),
        "{}",
        search.body
    );
    assert!(!search.body.contains(SECRET) && !search.body.contains("Board room"));
    let named = rev
        .get(&format!("{base}/search?q=budget&space=Board+room"))
        .await;
    assert_eq!(named.status, 400);
    assert!(named.body.contains("No space matches"));
    assert!(!named.body.contains("secret of the board"));
    for page in [
        format!("/spaces/{SPACE_B}"),
        format!("/spaces/{SPACE_B}/about"),
        format!("/messages/{SECRET}"),
        format!("/files/{SECRET_FILE}"),
        format!("/spaces/{SPACE_A}?around={SECRET}"),
    ] {
        let answer = rev.get(&format!("{base}{page}")).await;
        assert_eq!(answer.status, 404, "{page}");
        assert!(!answer.body.contains("secret of the board"), "{page}");
    }
    assert_eq!(
        rev.get(&format!("{base}/files/{IMAGE_FILE}")).await.status,
        200
    );
    assert_eq!(rev.get(&format!("{base}/audit")).await.status, 403);
    // The export covers space A only.
    let csrf = search.csrf();
    let made = rev
        .post(
            &format!("{base}/export"),
            &[("csrf", &csrf), ("q", "budget")],
        )
        .await;
    assert_eq!(made.status, 303, "{}", made.body);
    let page = rev.get(&format!("{base}{}", made.header("location"))).await;
    let file = rev
        .get(&format!("{base}{}/download", made.header("location")))
        .await;
    assert_eq!(file.status, 200);
    assert!(
        file.body.contains(POST) && !file.body.contains(SECRET) && !file.body.contains(SPACE_B)
    );
    let sha =
        spaces_archive::files::content::hex(&<sha2::Sha256 as sha2::Digest>::digest(&file.bytes));
    assert!(
        page.body.contains(&sha),
        "the page shows the file's SHA-256"
    );
    // The admin's export is not the reviewer's to download, and vice versa by id.
    let mut ana = Client::new();
    ana.login(base, "ana", ADMIN_PASSWORD).await;
    assert_eq!(
        ana.get(&format!("{base}/messages/{SECRET}")).await.status,
        200
    );
    let admin_page = ana.get(&format!("{base}/search?q=budget")).await;
    let admin_csrf = admin_page.csrf();
    let theirs = ana
        .post(&format!("{base}/export"), &[("csrf", &admin_csrf)])
        .await;
    assert_eq!(
        rev.get(&format!("{base}{}/download", theirs.header("location")))
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn hostile_content_comes_back_escaped_on_every_page() {
    let archive = review_archive().await;
    let server = serve(&archive, &[]).await;
    let base = &server.base;
    let mut ana = Client::new();
    ana.login(base, "ana", ADMIN_PASSWORD).await;
    let pages = [
        "/search?q=budget".to_string(),
        "/search?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E".to_string(),
        format!("/spaces/{SPACE_A}?around={HOSTILE}"),
        format!("/spaces/{SPACE_A}/about"),
        format!("/messages/{REMOVED}"),
        format!("/messages/{HOSTILE}"),
        "/audit".to_string(),
    ];
    for page in &pages {
        let answer = ana.get(&format!("{base}{page}")).await;
        assert!(
            answer.status == 200 || answer.status == 400,
            "{page}: {}",
            answer.status
        );
        for attack in ATTACKS {
            assert!(
                !answer.body.contains(attack),
                "{page} holds {attack} unescaped"
            );
        }
        assert!(!answer.body.contains("<script>alert"), "{page}");
        assert!(!answer.body.contains("href=\"javascript:"), "{page}");
        let csp = answer.header("content-security-policy");
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{csp}"
        );
        assert_eq!(answer.header("x-frame-options"), "DENY");
        assert_eq!(answer.header("x-content-type-options"), "nosniff");
    }
    let conversation = ana
        .get(&format!("{base}/spaces/{SPACE_A}?around={HOSTILE}"))
        .await;
    let shown = entities(&conversation.body);
    assert!(
        shown.contains("&lt;script&gt;alert('t')&lt;/script&gt;"),
        "the title is shown, escaped: {shown}"
    );
    assert!(
        shown.contains("&lt;b onmouseover=alert('n')&gt;Mallory"),
        "the sender's name is shown, escaped"
    );
    assert!(
        shown.contains("&lt;script&gt;alert('s')&lt;/script&gt;"),
        "the body is shown, escaped"
    );
}

#[tokio::test]
async fn conversations_thread_replies_and_show_removals_edits_and_files() {
    let archive = review_archive().await;
    let server = serve(&archive, &[]).await;
    let base = &server.base;
    let mut ana = Client::new();
    ana.login(base, "ana", ADMIN_PASSWORD).await;
    let page = ana
        .get(&format!("{base}/spaces/{SPACE_A}?around={REPLY}"))
        .await;
    assert_eq!(page.status, 200);
    let body = &page.body;
    let post = body.find(&format!("id=\"m-{POST}\"")).expect("the post");
    let replies = body[post..]
        .find("class=\"replies\"")
        .map(|i| i + post)
        .expect("its replies");
    let reply = body.find(&format!("id=\"m-{REPLY}\"")).expect("the reply");
    assert!(
        post < replies && replies < reply,
        "the reply is under its post"
    );
    assert!(body[reply..].starts_with(&format!("id=\"m-{REPLY}\" class=\"msg chat anchor\"")));
    assert!(body.contains("edited (2 versions)"));
    let removed = body
        .find(&format!("id=\"m-{REMOVED}\""))
        .expect("the removed message");
    let rest = &body[removed..];
    assert!(
        rest.contains("removed by Ann Lee at 2024-01-07 09:00:00 UTC"),
        "{rest}"
    );
    assert!(rest.find("<del class=\"body\">").unwrap() < rest.find("budget leak").unwrap());
    assert!(body.contains(&format!("<img src=\"/files/{IMAGE_FILE}?inline=1\"")));
    assert!(body.contains("minutes.pdf") && body.contains("not fetched yet"));
    // The inline image keeps its type; a download is an attachment of no type.
    let inline = ana
        .get(&format!("{base}/files/{IMAGE_FILE}?inline=1"))
        .await;
    assert_eq!(inline.header("content-type"), "image/png");
    assert_eq!(inline.bytes, PNG);
    let download = ana.get(&format!("{base}/files/{IMAGE_FILE}")).await;
    assert_eq!(download.header("content-type"), "application/octet-stream");
    assert!(download
        .header("content-disposition")
        .starts_with("attachment; filename=\"_script_alert__f___"));
    // History: word diff, removal, raw payloads for the admin only.
    let history = ana.get(&format!("{base}/messages/{REPLY}")).await;
    assert!(
        history.body.contains("<del>first</del>") && history.body.contains("<ins>final</ins>"),
        "{}",
        history.body
    );
    assert!(history.body.contains("Payloads as received"));
    assert!(history.body.contains("app.event.message.updated"));
    let mut rev = Client::new();
    rev.login(base, "rev", REVIEWER_PASSWORD).await;
    let history = rev.get(&format!("{base}/messages/{REPLY}")).await;
    assert!(
        history.body.contains("<ins>final</ins>") && !history.body.contains("Payloads as received")
    );
    let removal = rev.get(&format!("{base}/messages/{REMOVED}")).await;
    assert!(removal
        .body
        .contains("Removed by Ann Lee at 2024-01-07 09:00:00 UTC"));
    let about = rev.get(&format!("{base}/spaces/{SPACE_A}/about")).await;
    let about_body = entities(&about.body);
    let titles = &about_body[about_body.find("class=\"titles\"").unwrap()..];
    assert!(
        titles.find("Release train</td>").unwrap()
            < titles.find("Release train &lt;script").unwrap(),
        "{titles}"
    );
    assert!(
        about_body.contains("<td>join</td><td>&lt;b onmouseover"),
        "{about_body}"
    );
}

#[tokio::test]
async fn every_action_is_audited_and_verify_catches_a_removed_or_altered_row() {
    let archive = review_archive().await;
    let server = serve(&archive, &[]).await;
    let base = &server.base;
    let mut ana = Client::new();
    ana.login(base, "nobody", "x").await;
    ana.login(base, "ana", ADMIN_PASSWORD).await;
    let search = ana.get(&format!("{base}/search?q=budget&kind=chat")).await;
    ana.get(&format!("{base}/spaces/{SPACE_A}?around={REPLY}"))
        .await;
    ana.get(&format!("{base}/messages/{REPLY}")).await;
    ana.get(&format!("{base}/files/{IMAGE_FILE}")).await;
    let csrf = search.csrf();
    let made = ana
        .post(
            &format!("{base}/export"),
            &[("csrf", &csrf), ("kind", "chat")],
        )
        .await;
    ana.get(&format!("{base}{}/download", made.header("location")))
        .await;
    let cli = archive.run(&["search", "budget"]);
    assert_eq!(cli.code, 0);
    let listed = archive.run(&["audit", "--json"]);
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    let rows: Vec<serde_json::Value> = listed
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let actions: Vec<&str> = rows.iter().map(|r| r["action"].as_str().unwrap()).collect();
    for want in [
        "user_add",
        "login_failed",
        "login",
        "search",
        "view_conversation",
        "view_message",
        "download_file",
        "export",
        "download_export",
    ] {
        assert!(actions.contains(&want), "{want} missing from {actions:?}");
    }
    let web_search = rows
        .iter()
        .find(|r| r["action"] == "search" && r["user"] == "ana")
        .unwrap();
    assert_eq!(web_search["detail"]["hits"], 5, "four chats in A, one in B");
    assert_eq!(web_search["detail"]["filters"]["kind"], "chat");
    assert_eq!(web_search["address"], "127.0.0.1");
    let export = rows.iter().find(|r| r["action"] == "export").unwrap();
    assert_eq!(export["detail"]["sha256"].as_str().unwrap().len(), 64);
    assert!(rows.iter().any(|r| r["action"] == "search"
        && r["user"].as_str().unwrap().starts_with("os:")
        && r["address"] == "cli"));
    let failed = rows.iter().find(|r| r["action"] == "login_failed").unwrap();
    assert_eq!(failed["user"], "nobody");
    let filtered = archive.run(&["audit", "--user", "ana", "--action", "login", "--json"]);
    assert_eq!(filtered.stdout.lines().count(), 1);
    assert_eq!(archive.run(&["audit", "verify"]).code, 0);
    drop(server);
    // Through SQLite directly: a row deleted from the middle, then one altered.
    let db_path = archive.data_dir().join("audit.sqlite");
    let mut db = audit_db(&db_path).await;
    sqlx::query("DELETE FROM audit WHERE seq = 5")
        .execute(&mut db)
        .await
        .unwrap();
    let broken = archive.run(&["audit", "verify"]);
    assert_eq!(broken.code, 1);
    assert!(
        broken.stderr.contains("row 5 is missing"),
        "{}",
        broken.stderr
    );
    let fresh = TestArchive::new();
    fresh.run_with_stdin(
        &["users", "add", "x", "--role", "admin", "--password-stdin"],
        b"a long password\n",
    );
    fresh.run_with_stdin(
        &[
            "users",
            "add",
            "y",
            "--role",
            "reviewer",
            "--password-stdin",
        ],
        b"a long password\n",
    );
    let mut db = audit_db(&fresh.data_dir().join("audit.sqlite")).await;
    sqlx::query("UPDATE audit SET detail = replace(detail, 'reviewer', 'admin') WHERE seq = 2")
        .execute(&mut db)
        .await
        .unwrap();
    let altered = fresh.run(&["audit", "verify"]);
    assert_eq!(altered.code, 1);
    assert!(
        altered.stderr.contains("row 2 was altered"),
        "{}",
        altered.stderr
    );
    sqlx::query("DELETE FROM audit WHERE seq = 2")
        .execute(&mut db)
        .await
        .unwrap();
    let truncated = fresh.run(&["audit", "verify"]);
    assert_eq!(truncated.code, 1);
    assert!(
        truncated.stderr.contains("missing from the end"),
        "{}",
        truncated.stderr
    );
}

/// Character references as the tests spell them (`&lt;`, `&gt;`, `'`), whichever
/// form the page used.
fn entities(body: &str) -> String {
    body.replace("&#60;", "&lt;")
        .replace("&#62;", "&gt;")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&#34;", "&quot;")
}

async fn audit_db(path: &std::path::Path) -> sqlx::SqliteConnection {
    use sqlx::Connection;
    sqlx::SqliteConnection::connect_with(&sqlx::sqlite::SqliteConnectOptions::new().filename(path))
        .await
        .unwrap()
}

#[tokio::test]
async fn users_are_added_listed_changed_and_removed() {
    let archive = TestArchive::new();
    let generated = archive.run(&[
        "users", "add", "lena", "--role", "reviewer", "--space", "s1", "--space", "s2",
    ]);
    assert_eq!(generated.code, 0, "{}", generated.stderr);
    let password = generated.stdout.trim().to_string();
    assert_eq!(password.len(), 20, "printed once: {:?}", generated.stdout);
    assert_eq!(
        archive
            .run(&["users", "add", "lena", "--role", "admin"])
            .code,
        1,
        "a duplicate is refused"
    );
    assert_eq!(
        archive
            .run(&["users", "add", "bad name", "--role", "admin"])
            .code,
        1
    );
    let listed = archive.run(&["users", "list", "--json"]);
    let user: serde_json::Value = serde_json::from_str(listed.stdout.trim()).unwrap();
    assert_eq!(user["role"], "reviewer");
    assert_eq!(user["spaces"], serde_json::json!(["s1", "s2"]));
    assert!(!listed.stdout.contains("argon2"), "no hash in the listing");
    let hash: String = {
        let mut db = audit_db(&archive.data_dir().join("audit.sqlite")).await;
        sqlx::query_scalar("SELECT hash FROM users WHERE name = 'lena'")
            .fetch_one(&mut db)
            .await
            .unwrap()
    };
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(!hash.contains(&password));
    let short =
        archive.run_with_stdin(&["users", "passwd", "lena", "--password-stdin"], b"short\n");
    assert_ne!(short.code, 0);
    let changed = archive.run_with_stdin(
        &["users", "passwd", "lena", "--password-stdin"],
        b"a brand new password\n",
    );
    assert_eq!(changed.code, 0, "{}", changed.stderr);
    assert!(
        changed.stdout.is_empty(),
        "a password from stdin is not printed"
    );
    assert_eq!(archive.run(&["users", "remove", "lena"]).code, 0);
    assert_eq!(archive.run(&["users", "remove", "lena"]).code, 1);
    assert_eq!(archive.run(&["users", "list"]).stdout, "");
    let mode = spaces_archive::private::mode_of(&archive.data_dir().join("audit.sqlite")).unwrap();
    assert_eq!(mode & 0o077, 0, "audit.sqlite is private: {mode:o}");
}

#[tokio::test]
async fn a_trusted_proxy_may_name_the_user_and_nobody_else_may() {
    let archive = review_archive().await;
    let trusted = serve(
        &archive,
        &[
            "--auth-header",
            "X-Remote-User",
            "--trusted-proxy",
            "127.0.0.1",
        ],
    )
    .await;
    let mut client = Client::new();
    client.headers.push(("X-Remote-User".into(), "rev".into()));
    let page = client
        .get(&format!("{}/search?q=budget", trusted.base))
        .await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("<strong>5</strong> messages match"),
        "the proxy's user, with its limits"
    );
    client.headers[0].1 = "mallory".into();
    assert_eq!(
        client
            .get(&format!("{}/search?q=budget", trusted.base))
            .await
            .status,
        403
    );
    let untrusted = serve(
        &archive,
        &[
            "--auth-header",
            "X-Remote-User",
            "--trusted-proxy",
            "10.9.9.9",
        ],
    )
    .await;
    client.headers[0].1 = "ana".into();
    assert_eq!(
        client
            .get(&format!("{}/search?q=budget", untrusted.base))
            .await
            .status,
        303,
        "the header is ignored from elsewhere"
    );
}

#[tokio::test]
async fn behind_tls_the_session_cookie_is_secure() {
    let archive = review_archive().await;
    let dir = archive.dir.path();
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
        ])
        .arg("-keyout")
        .arg(dir.join("key.pem"))
        .arg("-out")
        .arg(dir.join("cert.pem"))
        .output();
    if !made.as_ref().is_ok_and(|o| o.status.success()) {
        eprintln!("skipped: openssl cannot make a test certificate here");
        return;
    }
    let cert = dir.join("cert.pem").display().to_string();
    let key = dir.join("key.pem").display().to_string();
    let server = serve(&archive, &["--tls-cert", &cert, "--tls-key", &key]).await;
    assert!(server.base.starts_with("https://"));
    let mut client = Client::new();
    let ok = client.login(&server.base, "ana", ADMIN_PASSWORD).await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    assert!(
        ok.header("set-cookie").contains("; Secure"),
        "{}",
        ok.header("set-cookie")
    );
    assert_eq!(
        client
            .get(&format!("{}/search?q=budget", server.base))
            .await
            .status,
        200
    );
}

/// A read-only bind mount of `dir` (as docker-compose's `:ro` volume and the
/// systemd unit's `ReadOnlyPaths` give `serve` the archive); unmounted on drop.
struct ReadOnlyMount(std::path::PathBuf);

impl ReadOnlyMount {
    /// `None` (with a message) when this process may not mount.
    fn of(dir: &std::path::Path, at: &std::path::Path) -> Option<ReadOnlyMount> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: a read-only bind mount needs root");
            return None;
        }
        std::fs::create_dir_all(at).unwrap();
        let bind = std::process::Command::new("mount")
            .arg("--bind")
            .arg(dir)
            .arg(at)
            .status()
            .unwrap();
        if !bind.success() {
            eprintln!("skipped: cannot bind-mount here");
            return None;
        }
        let mount = ReadOnlyMount(at.to_path_buf());
        let ro = std::process::Command::new("mount")
            .args(["-o", "remount,bind,ro"])
            .arg(at)
            .status()
            .unwrap();
        assert!(ro.success(), "remount read-only");
        Some(mount)
    }
}

impl Drop for ReadOnlyMount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[tokio::test]
async fn serve_reads_an_archive_it_cannot_write_while_another_process_writes_it() {
    let archive = review_archive().await;
    let view = archive.dir.path().join("read-only-view");
    let Some(_mount) = ReadOnlyMount::of(&archive.data_dir(), &view) else {
        return;
    };
    assert!(
        std::fs::write(view.join("probe"), b"x").is_err(),
        "the mount is read-only"
    );
    let reviewers = archive.dir.path().join("reviewers");
    let audit_db = reviewers.join("audit.sqlite");
    std::fs::create_dir_all(&reviewers).unwrap();
    std::fs::copy(archive.data_dir().join("audit.sqlite"), &audit_db).unwrap();
    // No process has the archive open: SQLite's shared-memory file is gone, and
    // serve cannot make it there; it says so.
    let refused: crate::helpers::Run = crate::helpers::binary()
        .arg("--data-dir")
        .arg(&view)
        .arg("--audit-db")
        .arg(&audit_db)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap()
        .into();
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("start `run` first"),
        "{}",
        refused.stderr
    );
    // The writer's side has the archive open (as `run` has, all the time).
    let mut writer_side = archive.db().await;
    crate::helpers::scalar(&mut writer_side, "SELECT count(*) FROM messages").await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log = archive.dir.path().join("serve-ro.log");
    let mut child = crate::helpers::binary()
        .arg("--data-dir")
        .arg(&view)
        .arg("--audit-db")
        .arg(&audit_db)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let mut client = Client::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while client
        .http
        .get(format!("{base}/login"))
        .send()
        .await
        .is_err()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "serve did not start: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(client.login(&base, "ana", ADMIN_PASSWORD).await.status, 303);
    let before = client.get(&format!("{base}/search?q=budget")).await;
    assert!(
        before.body.contains("<strong>6</strong>"),
        "{}",
        before.body
    );
    // Another process (the archive's writer) adds a message through the writable path.
    let more = format!(
        "{}\n",
        serde_json::json!({"_id": "e00000000000000000000001", "category": "chat",
            "topicId": SPACE_A, "topicTitle": "Release train", "topicType": "group",
            "created": "2024-03-01T09:00:00Z", "modified": "2024-03-01T09:00:00Z",
            "sender": {"_id": "u1", "displayname": "Ann Lee", "username": "u1@example.com", "type": "user"},
            "content": {"bodyText": "<p>late budget addendum</p>", "description": "", "data": []}})
    );
    let run = archive.ingest_text("more.jsonl", &more);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let page = client.get(&format!("{base}/search?q=addendum")).await;
        if page.body.contains("e00000000000000000000001") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "serve never saw the new message: {}\n{}",
            page.body,
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let conversation = client
        .get(&format!(
            "{base}/spaces/{SPACE_A}?around=e00000000000000000000001"
        ))
        .await;
    assert!(conversation.body.contains("late budget addendum"));
    let _ = child.kill();
    let _ = child.wait();
    drop(writer_side);
    assert!(!view.join("probe").exists());
}

/// The web app exports its scope as RSMF and as an HTML transcript too: a zip of the
/// export directory, whose SHA-256 the page shows, that unpacks to a set `export
/// verify` passes, holding only the reviewer's space.
#[tokio::test]
async fn rsmf_and_html_exports_from_the_web_app_hold_only_the_viewers_spaces() {
    let archive = review_archive().await;
    let server = serve(&archive, &[]).await;
    let base = &server.base;
    let mut rev = Client::new();
    rev.login(base, "rev", REVIEWER_PASSWORD).await;
    let search = rev.get(&format!("{base}/search?q=budget")).await;
    assert!(search.body.contains(r#"name="format""#));
    let csrf = search.csrf();
    for format in ["rsmf", "html"] {
        let made = rev
            .post(
                &format!("{base}/export"),
                &[("csrf", &csrf), ("q", "budget"), ("format", format)],
            )
            .await;
        assert_eq!(made.status, 303, "{format}: {}", made.body);
        let page = rev.get(&format!("{base}{}", made.header("location"))).await;
        let file = rev
            .get(&format!("{base}{}/download", made.header("location")))
            .await;
        assert_eq!(file.status, 200);
        assert_eq!(file.header("content-type"), "application/zip");
        let sha = spaces_archive::files::content::hex(&<sha2::Sha256 as sha2::Digest>::digest(
            &file.bytes,
        ));
        assert!(
            page.body.contains(&sha),
            "{format}: the page shows the zip's SHA-256"
        );
        let dir = archive.dir.path().join(format!("unzipped-{format}"));
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(file.bytes.clone())).unwrap();
        zip.extract(&dir).unwrap();
        let verified = archive.run(&["export", "verify", dir.to_str().unwrap()]);
        assert_eq!(verified.code, 0, "{format}: {}", verified.stderr);
        for i in 0..zip.len() {
            let mut entry = zip.by_index(i).unwrap();
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
            let text = String::from_utf8_lossy(&bytes);
            if entry.name().unwrap().ends_with(".rsmf") {
                let rsmf = crate::rsmf::read_rsmf(&dir.join(entry.name().unwrap().as_ref()));
                assert_eq!(rsmf.manifest["conversations"][0]["id"], SPACE_A);
            }
            assert!(
                !text.contains(SPACE_B) && !text.contains(SECRET),
                "{format}: {}",
                entry.name().unwrap()
            );
        }
    }
    let bad = rev
        .post(
            &format!("{base}/export"),
            &[("csrf", &csrf), ("format", "pdf")],
        )
        .await;
    assert_eq!(bad.status, 400);
}
