//! `run` with OAuth tokens that expire every two seconds, from the simulator's token
//! endpoint, which rotates the refresh token at each use: a stream archived across many
//! expiries and reconnects with nothing lost, the latest refresh token stored (0600)
//! and used again after a restart, refused refreshes reported and retried, and no
//! token in the output.

use std::path::Path;
use std::time::Duration;

use spaces_archive::simulate::accounts::OAuthSim;
use spaces_archive::simulate::{SimOptions, Simulator};

use crate::helpers::TestArchive;
use crate::live::{
    connects, missing_payloads, reference, simulator, snapshot, spawn_run_with, stream, wait_for,
    Running,
};

fn oauth(refuse_attempts: Vec<u64>) -> OAuthSim {
    OAuthSim {
        lifetime: Duration::from_secs(2),
        client_id: "client-7".into(),
        client_secret: "client-secret-93b1".into(),
        refresh_token: "first-refresh-5c2e".into(),
        refuse_attempts,
    }
}

fn start(archive: &TestArchive, sim: &Simulator, refresh_token: &str, log: &Path) -> Running {
    let accounts = format!("{}/oauth2/access_token", sim.url());
    spawn_run_with(
        archive,
        &sim.url(),
        &[
            ("SPACES_ARCHIVE_REFRESH_TOKEN", refresh_token),
            ("SPACES_ARCHIVE_CLIENT_ID", "client-7"),
            ("SPACES_ARCHIVE_CLIENT_SECRET", "client-secret-93b1"),
        ],
        &[
            "--token-type",
            "oauth",
            "--accounts",
            &accounts,
            "--log",
            "debug",
        ],
        log,
    )
}

fn stored_refresh_token(archive: &TestArchive) -> String {
    std::fs::read_to_string(archive.data_dir().join("oauth-refresh-token"))
        .unwrap()
        .trim()
        .to_string()
}

fn assert_no_secret(log: &Path) {
    let text = std::fs::read_to_string(log).unwrap();
    for secret in [
        "sim-access-",
        "sim-refresh-",
        "first-refresh-5c2e",
        "client-secret-93b1",
    ] {
        assert!(!text.contains(secret), "{secret} in the output:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_are_refreshed_across_expiries_and_restarts_with_nothing_lost() {
    let archive = TestArchive::new();
    let stream = stream(archive.dir.path(), 2_000, 61, 4);
    let sim = simulator(
        SimOptions {
            rate: 250.0,
            auto_join: true,
            // Reconnects need a valid token at the handshake; backfills at each one
            // need it for REST.
            drop_every: Some(Duration::from_millis(2_500)),
            oauth: Some(oauth(Vec::new())),
            ..SimOptions::default()
        },
        &stream,
    )
    .await;
    let log = archive.dir.path().join("run.log");
    let child = start(&archive, &sim, "first-refresh-5c2e", &log);
    let want = snapshot(&reference(&stream)).await;
    wait_for(&archive, &want, Duration::from_secs(90)).await;
    sim.finished().await;
    assert_eq!(
        child.stop(),
        0,
        "{}",
        std::fs::read_to_string(&log).unwrap()
    );
    let accounts = sim.accounts().unwrap();
    let grants = accounts.grants();
    assert!(
        grants >= 4,
        "an 8 s stream with 2 s tokens took {grants} grants"
    );
    assert_eq!(stored_refresh_token(&archive), accounts.refresh_token());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(archive.data_dir().join("oauth-refresh-token"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // Every message in its final state (the snapshot waited for above); reconnects
    // happened, each with a valid token; both stores agree.
    assert!(
        connects(&log) >= 3,
        "{}",
        std::fs::read_to_string(&log).unwrap()
    );
    assert_eq!(archive.run(&["verify"]).code, 0);
    assert_no_secret(&log);

    // Restarted with the refresh token it was first given (used up long ago): the
    // stored one is used, and works.
    let again = archive.dir.path().join("again.log");
    let child = start(&archive, &sim, "first-refresh-5c2e", &again);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(child.stop(), 0);
    assert!(
        accounts.grants() > grants,
        "{}",
        std::fs::read_to_string(&again).unwrap()
    );
    assert_eq!(stored_refresh_token(&archive), accounts.refresh_token());
    assert_no_secret(&again);

    // The stored token revoked, the operator gives a new one: the new one is used.
    std::fs::write(
        archive.data_dir().join("oauth-refresh-token"),
        "revoked-0000\n",
    )
    .unwrap();
    let grants = accounts.grants();
    let third = archive.dir.path().join("third.log");
    let child = start(&archive, &sim, &accounts.refresh_token(), &third);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(child.stop(), 0);
    assert!(
        accounts.grants() > grants,
        "{}",
        std::fs::read_to_string(&third).unwrap()
    );
    assert_eq!(stored_refresh_token(&archive), accounts.refresh_token());
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_refresh_is_reported_and_retried() {
    let archive = TestArchive::new();
    let stream = stream(archive.dir.path(), 1_500, 62, 3);
    let sim = simulator(
        SimOptions {
            rate: 250.0,
            auto_join: true,
            oauth: Some(oauth(vec![2, 3, 4])),
            ..SimOptions::default()
        },
        &stream,
    )
    .await;
    let log = archive.dir.path().join("run.log");
    let child = start(&archive, &sim, "first-refresh-5c2e", &log);
    let want = snapshot(&reference(&stream)).await;
    wait_for(&archive, &want, Duration::from_secs(90)).await;
    sim.finished().await;
    // Past the refusals: refreshed again since.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while sim.accounts().unwrap().grants() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "no refresh after the refusals"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(child.stop(), 0);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("refused the refresh (HTTP 400)"), "{text}");
    assert_eq!(missing_payloads(&archive, &reference(&stream)).await, 0);
    assert_eq!(
        stored_refresh_token(&archive),
        sim.accounts().unwrap().refresh_token()
    );
    assert_no_secret(&log);
    sim.stop().await;
}
