//! `ctt serve` with a JWT issuer in its configuration (SPEC §7): `[auth.jwt]`
//! naming a test issuer on 127.0.0.1, whose tokens the server accepts as
//! `viewer` and `self` while no API token exists.

use ctt_server::auth::testing::{TEST_AUDIENCE, TestIssuer};

use crate::support::{Workspace, corpus, get, start_serve};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_accepts_jwts_of_the_configured_issuer() {
    let issuer = TestIssuer::start().await;
    let work = Workspace::new();
    let sample = corpus().join("grycap-cloudtrail-tracker/sample-cloudtrail-event.json");
    let (report, code) = work.ingest(&[&sample], &[]);
    assert_eq!(code, 0, "{report}");
    let config = work.path("ctt.toml");
    std::fs::write(
        &config,
        format!(
            "[auth.jwt]\nissuer = \"{}\"\naudience = [\"{TEST_AUDIENCE}\"]\n",
            issuer.url()
        ),
    )
    .expect("write the configuration");

    let (mut server, base) = start_serve(work.ctt().arg("--config").arg(&config).args([
        "serve",
        "--listen",
        "127.0.0.1:0",
    ]));
    let viewer = issuer.token(&["viewer"], "teacher");
    let student = issuer.token(&["self"], "alucloud171");
    let count = "/scan?from=2017-06-01&to=2017-06-01&count=true";
    let answers = tokio::task::spawn_blocking(move || {
        (
            get(&base, count, None),
            get(&base, count, Some(&viewer)),
            get(&base, count, Some(&student)),
        )
    })
    .await
    .expect("requests");
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(answers.0.0, 401, "a JWT issuer closes the server");
    assert_eq!(answers.1, (200, "18".to_owned()), "viewer");
    assert_eq!(answers.2, (200, "6".to_owned()), "self sees its own");
    assert!(
        issuer.fetches() >= 1,
        "the server fetched the issuer's keys"
    );
}
