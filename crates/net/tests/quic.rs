//! Real QUIC + mutual TLS on 127.0.0.1: handshakes, refusals, revocation, joining,
//! framing, intermediate authorities. All traffic stays on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use branchline_net::endpoint::{close_code, finish};
use branchline_net::frame::{read_frame, write_frame, DEFAULT_MAX_FRAME};
use branchline_net::{
    Authority, ClientTls, Connection, DeviceCredentials, DeviceKey, Endpoint, NetError, Revocations,
    ServerTls,
};
use tokio::sync::mpsc;

const LOOPBACK: &str = "127.0.0.1:0";
const STEP: Duration = Duration::from_secs(15);

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

/// Fails the test instead of hanging it.
async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(STEP, f)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

fn enrol(authority: &Authority, device_id: &str) -> DeviceCredentials {
    enrol_valid(authority, device_id, now() - 3600, now() + 86_400)
}

fn enrol_valid(authority: &Authority, device_id: &str, not_before: i64, not_after: i64) -> DeviceCredentials {
    let key = DeviceKey::generate().unwrap();
    let leaf = authority
        .issue_device_cert(&key.public_key_der(), device_id, "staff", not_before, not_after)
        .unwrap();
    DeviceCredentials::new(key, authority.chain_for(&leaf)).unwrap()
}

fn roots(authority: &Authority) -> Vec<Vec<u8>> {
    vec![authority.root_cert_der().to_vec()]
}

/// A device endpoint that serves and connects with the same credentials.
fn device(creds: &DeviceCredentials, roots: &[Vec<u8>], revoked: &Revocations) -> Endpoint {
    let server = ServerTls::new(creds, roots, revoked.clone()).unwrap();
    let client = ClientTls::new(creds, roots, revoked.clone()).unwrap();
    Endpoint::bind(LOOPBACK.parse().unwrap(), Some(&server), &client).unwrap()
}

fn addr(ep: &Endpoint) -> SocketAddr {
    ep.local_addr().unwrap()
}

/// Accepts connections forever, each in its own task, reporting every handshake's outcome.
fn accept_loop(ep: &Endpoint) -> mpsc::UnboundedReceiver<Result<Connection, NetError>> {
    let (tx, rx) = mpsc::unbounded_channel();
    let ep = ep.clone();
    tokio::spawn(async move {
        while let Some(incoming) = ep.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let _ = tx.send(incoming.accept().await);
            });
        }
    });
    rx
}

/// The client side of a refused connection: either the connect fails or the first
/// exchange does, and the failure says "handshake".
async fn assert_refused(client: &Endpoint, server: SocketAddr) -> NetError {
    let err = match within("connect", client.connect(server)).await {
        Err(e) => e,
        Ok(conn) => within("exchange", async {
            let (mut send, mut recv) = conn.open_bi().await?;
            write_frame(&mut send, b"hello?").await?;
            send.finish().map_err(|e| NetError::Stream(e.to_string()))?;
            read_frame(&mut recv, DEFAULT_MAX_FRAME).await
        })
        .await
        .expect_err("a refused client must not get an answer"),
    };
    assert_eq!(err.code(), "net.handshake", "{err}");
    err
}

/// Echo server side for one stream: reads frames until the stream ends, answers each.
async fn echo_one_stream(conn: &Connection) -> Result<usize, NetError> {
    let (mut send, mut recv) = conn.accept_bi().await?;
    let mut n = 0;
    while let Some(msg) = read_frame(&mut recv, DEFAULT_MAX_FRAME).await? {
        let mut reply = b"echo:".to_vec();
        reply.extend_from_slice(&msg);
        write_frame(&mut send, &reply).await?;
        n += 1;
    }
    // Keep the connection until the peer has everything: dropping it closes it at once.
    finish(&mut send).await?;
    Ok(n)
}

#[tokio::test]
async fn mutual_tls_and_frames_both_ways() {
    let root = Authority::generate("sys-1", "Riverside Libraries").unwrap();
    let a = enrol(&root, "desk-a");
    let b = enrol(&root, "laptop-b");
    let revoked = Revocations::new();
    let server = device(&a, &roots(&root), &revoked);
    let client = device(&b, &roots(&root), &revoked);
    let mut accepted = accept_loop(&server);

    let conn = within("connect", client.connect(addr(&server))).await.unwrap();
    assert_eq!(conn.peer().unwrap().device_id, "desk-a");
    assert_eq!(conn.peer().unwrap().system_id.as_deref(), Some("sys-1"));
    assert_eq!(conn.peer().unwrap().spki_sha256, a.key().spki_sha256());
    assert_eq!(conn.remote_addr(), addr(&server));

    let server_conn = within("accept", accepted.recv()).await.unwrap().unwrap();
    assert!(server_conn.is_authenticated());
    assert_eq!(server_conn.peer().unwrap().device_id, "laptop-b");
    assert_eq!(server_conn.peer().unwrap().role.as_deref(), Some("staff"));

    // Client-initiated stream: several frames, including an empty and a large one.
    let echo = tokio::spawn({
        let server_conn = server_conn.clone();
        async move { echo_one_stream(&server_conn).await }
    });
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    let big = vec![0xabu8; 3 * 1024 * 1024];
    for msg in [b"hello".to_vec(), Vec::new(), big.clone()] {
        write_frame(&mut send, &msg).await.unwrap();
        let reply = within("reply", read_frame(&mut recv, DEFAULT_MAX_FRAME))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&reply[..5], b"echo:");
        assert_eq!(&reply[5..], &msg[..]);
    }
    send.finish().unwrap();
    assert!(within("end", read_frame(&mut recv, DEFAULT_MAX_FRAME))
        .await
        .unwrap()
        .is_none());
    assert_eq!(within("echo", echo).await.unwrap().unwrap(), 3);

    // Server-initiated stream: the other direction.
    let echo = tokio::spawn({
        let conn = conn.clone();
        async move { echo_one_stream(&conn).await }
    });
    let (mut send, mut recv) = server_conn.open_bi().await.unwrap();
    write_frame(&mut send, b"from the server").await.unwrap();
    send.finish().unwrap();
    let reply = within("reply", read_frame(&mut recv, DEFAULT_MAX_FRAME))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reply, b"echo:from the server");
    assert_eq!(within("echo", echo).await.unwrap().unwrap(), 1);

    conn.close(close_code::NORMAL, "done");
    let why = within("closed", server_conn.closed()).await;
    assert!(
        matches!(why, NetError::Closed { code: 0, ref reason } if reason == "done"),
        "{why}"
    );
    client.close(close_code::SHUTDOWN, "bye");
    server.close(close_code::SHUTDOWN, "bye");
}

#[tokio::test]
async fn a_client_from_another_authority_is_refused() {
    let root = Authority::generate("sys-1", "Riverside").unwrap();
    let other = Authority::generate("sys-1", "Impostor").unwrap();
    let a = enrol(&root, "desk-a");
    let intruder = enrol(&other, "intruder");
    let server = device(&a, &roots(&root), &Revocations::new());
    // The intruder trusts the real root, so only the server's check can stop it.
    let client = device(&intruder, &roots(&root), &Revocations::new());
    let mut accepted = accept_loop(&server);

    assert_refused(&client, addr(&server)).await;
    let err = within("accept", accepted.recv()).await.unwrap().unwrap_err();
    assert_eq!(err.code(), "net.handshake", "{err}");

    // And a client that trusts only its own authority refuses the real server.
    let own_trust = device(&intruder, &roots(&other), &Revocations::new());
    let err = within("connect", own_trust.connect(addr(&server)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "net.handshake", "{err}");
}

#[tokio::test]
async fn a_revoked_client_is_refused_by_the_server_live() {
    let root = Authority::generate("sys-1", "Riverside").unwrap();
    let a = enrol(&root, "desk-a");
    let b = enrol(&root, "laptop-b");
    let server_revoked = Revocations::new();
    let server = device(&a, &roots(&root), &server_revoked);
    let client = device(&b, &roots(&root), &Revocations::new());
    let mut accepted = accept_loop(&server);

    // Before revocation: fine, and a full exchange (so TLS session tickets, were they
    // issued, would have reached the client and let it resume past the check).
    let conn = within("connect", client.connect(addr(&server))).await.unwrap();
    let server_conn = within("accept", accepted.recv()).await.unwrap().unwrap();
    assert_eq!(server_conn.peer().unwrap().device_id, "laptop-b");
    let echo = tokio::spawn(async move { echo_one_stream(&server_conn).await });
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    write_frame(&mut send, b"before").await.unwrap();
    send.finish().unwrap();
    assert_eq!(
        within("reply", read_frame(&mut recv, DEFAULT_MAX_FRAME))
            .await
            .unwrap()
            .unwrap(),
        b"echo:before"
    );
    assert_eq!(within("echo", echo).await.unwrap().unwrap(), 1);
    conn.close(close_code::NORMAL, "");

    // The shared set changes under the running endpoint: the next handshake is refused.
    assert!(server_revoked.revoke("laptop-b"));
    assert_refused(&client, addr(&server)).await;
    let err = within("accept", accepted.recv()).await.unwrap().unwrap_err();
    assert_eq!(err.code(), "net.handshake");
    assert!(err.to_string().to_lowercase().contains("revoked"), "{err}");
}

#[tokio::test]
async fn a_revoked_server_is_refused_by_the_client() {
    let root = Authority::generate("sys-1", "Riverside").unwrap();
    let a = enrol(&root, "desk-a");
    let b = enrol(&root, "laptop-b");
    let server = device(&a, &roots(&root), &Revocations::new());
    let client = device(&b, &roots(&root), &Revocations::from_ids(["desk-a"]));
    let mut accepted = accept_loop(&server);

    let err = within("connect", client.connect(addr(&server)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "net.handshake", "{err}");
    assert!(err.to_string().to_lowercase().contains("revoked"), "{err}");
    let err = within("accept", accepted.recv()).await.unwrap().unwrap_err();
    assert_eq!(err.code(), "net.handshake", "{err}");
}

#[tokio::test]
async fn an_expired_certificate_is_refused() {
    let root = Authority::generate("sys-1", "Riverside").unwrap();
    let a = enrol(&root, "desk-a");
    let old = enrol_valid(&root, "old-desk", now() - 7200, now() - 3600);
    let server = device(&a, &roots(&root), &Revocations::new());
    let client = device(&old, &roots(&root), &Revocations::new());
    let mut accepted = accept_loop(&server);
    assert_refused(&client, addr(&server)).await;
    assert!(within("accept", accepted.recv()).await.unwrap().is_err());
}

#[tokio::test]
async fn a_joining_client_pins_the_root_and_is_anonymous() {
    let root = Authority::generate("sys-1", "Riverside").unwrap();
    let a = enrol(&root, "desk-a");
    let server = device(&a, &roots(&root), &Revocations::new());
    let mut accepted = accept_loop(&server);

    let join = ClientTls::for_join(&root.root_fingerprint()).unwrap();
    let joiner = Endpoint::bind(LOOPBACK.parse().unwrap(), None, &join).unwrap();
    let conn = within("connect", joiner.connect(addr(&server))).await.unwrap();
    assert_eq!(
        conn.peer().unwrap().device_id,
        "desk-a",
        "the joiner knows whom it reached"
    );

    let server_conn = within("accept", accepted.recv()).await.unwrap().unwrap();
    assert!(server_conn.peer().is_none());
    assert!(!server_conn.is_authenticated());

    let echo = tokio::spawn(async move { echo_one_stream(&server_conn).await });
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    write_frame(&mut send, b"invite-code-secret").await.unwrap();
    send.finish().unwrap();
    let reply = within("reply", read_frame(&mut recv, DEFAULT_MAX_FRAME))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reply, b"echo:invite-code-secret");
    assert_eq!(within("echo", echo).await.unwrap().unwrap(), 1);

    // connect_with on an enrolled endpoint works the same way.
    let b = enrol(&root, "laptop-b");
    let enrolled = device(&b, &roots(&root), &Revocations::new());
    let conn = within("connect_with", enrolled.connect_with(addr(&server), &join))
        .await
        .unwrap();
    assert_eq!(conn.peer().unwrap().device_id, "desk-a");
    assert!(within("accept", accepted.recv())
        .await
        .unwrap()
        .unwrap()
        .peer()
        .is_none());
}

#[tokio::test]
async fn a_joining_client_refuses_a_server_with_the_wrong_fingerprint() {
    let root = Authority::generate("sys-1", "Riverside").unwrap();
    let other = Authority::generate("sys-2", "Elsewhere").unwrap();
    let a = enrol(&root, "desk-a");
    let server = device(&a, &roots(&root), &Revocations::new());
    let mut accepted = accept_loop(&server);

    for fingerprint in [other.root_fingerprint(), "00".repeat(32)] {
        let join = ClientTls::for_join(&fingerprint).unwrap();
        let joiner = Endpoint::bind(LOOPBACK.parse().unwrap(), None, &join).unwrap();
        let err = within("connect", joiner.connect(addr(&server)))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "net.handshake", "{err}");
        assert!(within("accept", accepted.recv()).await.unwrap().is_err());
    }

    // A server of another system presenting the pinned CA's *name* but not its cert is
    // refused too: the impostor's chain does not contain the pinned certificate.
    let impostor = enrol(&other, "desk-a");
    let fake = device(&impostor, &roots(&other), &Revocations::new());
    let _fake_accepted = accept_loop(&fake);
    let join = ClientTls::for_join(&root.root_fingerprint()).unwrap();
    let joiner = Endpoint::bind(LOOPBACK.parse().unwrap(), None, &join).unwrap();
    let err = within("connect", joiner.connect(addr(&fake))).await.unwrap_err();
    assert_eq!(err.code(), "net.handshake", "{err}");
}

#[tokio::test]
async fn an_oversized_frame_is_refused_and_the_endpoint_keeps_serving() {
    const LIMIT: usize = 64 * 1024;
    let root = Authority::generate("sys-1", "Riverside").unwrap();
    let a = enrol(&root, "desk-a");
    let b = enrol(&root, "laptop-b");
    let server = device(&a, &roots(&root), &Revocations::new());
    let client = device(&b, &roots(&root), &Revocations::new());

    // A server that reads frames with a 64 KiB limit and hangs up on anything larger.
    let (errors_tx, mut errors) = mpsc::unbounded_channel();
    let ep = server.clone();
    tokio::spawn(async move {
        while let Some(incoming) = ep.accept().await {
            let errors_tx = errors_tx.clone();
            tokio::spawn(async move {
                let Ok(conn) = incoming.accept().await else { return };
                let Ok((mut send, mut recv)) = conn.accept_bi().await else {
                    return;
                };
                loop {
                    match read_frame(&mut recv, LIMIT).await {
                        Ok(Some(msg)) => {
                            if write_frame(&mut send, &msg).await.is_err() {
                                return;
                            }
                        }
                        Ok(None) => {
                            let _ = finish(&mut send).await;
                            return;
                        }
                        Err(e) => {
                            conn.close(close_code::FRAME_TOO_LARGE, "frame too large");
                            let _ = errors_tx.send(e);
                            return;
                        }
                    }
                }
            });
        }
    });

    // A peer announcing 100 MiB (and sending a little) is cut off.
    let bad = within("connect", client.connect(addr(&server))).await.unwrap();
    let (mut send, mut recv) = bad.open_bi().await.unwrap();
    send.write_all(&(100u32 * 1024 * 1024).to_le_bytes())
        .await
        .unwrap();
    send.write_all(&[0u8; 1000]).await.unwrap();
    let err = within("server error", errors.recv()).await.unwrap();
    assert!(
        matches!(
            err,
            NetError::FrameTooLarge {
                len: 104_857_600,
                max: 65_536
            }
        ),
        "{err}"
    );
    assert_eq!(err.code(), "net.frame_too_large");
    let err = within("client sees close", read_frame(&mut recv, DEFAULT_MAX_FRAME))
        .await
        .unwrap_err();
    assert!(
        matches!(err, NetError::Closed { code, .. } if code == u64::from(close_code::FRAME_TOO_LARGE)),
        "{err}"
    );

    // A frame one byte over the limit is refused as well; one at the limit is fine.
    let conn = within("connect", client.connect(addr(&server))).await.unwrap();
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    let at_limit = vec![1u8; LIMIT];
    write_frame(&mut send, &at_limit).await.unwrap();
    assert_eq!(
        within("echo", read_frame(&mut recv, DEFAULT_MAX_FRAME))
            .await
            .unwrap()
            .unwrap(),
        at_limit
    );
    write_frame(&mut send, &vec![1u8; LIMIT + 1]).await.unwrap();
    let err = within("server error", errors.recv()).await.unwrap();
    assert_eq!(err.code(), "net.frame_too_large");

    // Other peers are still served.
    let good = within("connect", client.connect(addr(&server))).await.unwrap();
    let (mut send, mut recv) = good.open_bi().await.unwrap();
    write_frame(&mut send, b"still there?").await.unwrap();
    send.finish().unwrap();
    assert_eq!(
        within("echo", read_frame(&mut recv, DEFAULT_MAX_FRAME))
            .await
            .unwrap()
            .unwrap(),
        b"still there?"
    );
    assert!(within("end", read_frame(&mut recv, DEFAULT_MAX_FRAME))
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn a_device_enrolled_by_an_intermediate_authority_is_accepted() {
    let root = Authority::generate("sys-1", "Riverside").unwrap();
    // The coordinator's root makes the technician's laptop a second authority.
    let signing_key = DeviceKey::generate().unwrap();
    let inter_cert = root
        .issue_intermediate(
            &signing_key.public_key_der(),
            "laptop-t",
            "Technician laptop",
            now() - 3600,
            now() + 86_400,
        )
        .unwrap();
    let second = Authority::from_parts(signing_key, inter_cert, root.chain()).unwrap();
    let second = Authority::from_text(&second.to_text()).unwrap();
    assert_eq!(second.root_fingerprint(), root.fingerprint());

    let a = enrol(&root, "desk-a");
    let c = enrol(&second, "desk-c");
    assert_eq!(c.chain().len(), 3, "leaf, intermediate, root");

    let server_revoked = Revocations::new();
    let server_a = device(&a, &roots(&root), &server_revoked);
    let client_c = device(&c, &roots(&root), &Revocations::new());
    let mut accepted_a = accept_loop(&server_a);

    // C (enrolled by the intermediate) reaches A (enrolled by the root) and vice versa.
    let conn = within("connect", client_c.connect(addr(&server_a)))
        .await
        .unwrap();
    assert_eq!(conn.peer().unwrap().device_id, "desk-a");
    let seen = within("accept", accepted_a.recv()).await.unwrap().unwrap();
    assert_eq!(seen.peer().unwrap().device_id, "desk-c");
    let echo = tokio::spawn(async move { echo_one_stream(&seen).await });
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    write_frame(&mut send, b"hi from c").await.unwrap();
    send.finish().unwrap();
    assert_eq!(
        within("reply", read_frame(&mut recv, DEFAULT_MAX_FRAME))
            .await
            .unwrap()
            .unwrap(),
        b"echo:hi from c"
    );
    assert_eq!(within("echo", echo).await.unwrap().unwrap(), 1);

    let client_a = device(&a, &roots(&root), &Revocations::new());
    let mut accepted_c = accept_loop(&client_c);
    let conn = within("connect", client_a.connect(addr(&client_c)))
        .await
        .unwrap();
    assert_eq!(conn.peer().unwrap().device_id, "desk-c");
    assert_eq!(
        within("accept", accepted_c.recv())
            .await
            .unwrap()
            .unwrap()
            .peer()
            .unwrap()
            .device_id,
        "desk-a"
    );

    // A joiner pinning the root accepts C, whose chain ends with the root.
    let joiner = Endpoint::bind(
        LOOPBACK.parse().unwrap(),
        None,
        &ClientTls::for_join(&root.root_fingerprint()).unwrap(),
    )
    .unwrap();
    let conn = within("join", joiner.connect(addr(&client_c))).await.unwrap();
    assert_eq!(conn.peer().unwrap().device_id, "desk-c");

    // Revoking the intermediate authority's device stops the devices it enrolled.
    server_revoked.revoke("laptop-t");
    assert_refused(&client_c, addr(&server_a)).await;
}

#[tokio::test]
async fn endpoint_basics() {
    let root = Authority::generate("sys-1", "Riverside").unwrap();
    let a = enrol(&root, "desk-a");
    let ep = device(&a, &roots(&root), &Revocations::new());
    assert!(addr(&ep).ip().is_loopback());
    assert_ne!(addr(&ep).port(), 0);
    assert_eq!(ep.open_connections(), 0);

    // A client-only endpoint (a joining device) starts serving once it is given a server
    // configuration (after its enrolment).
    let join = ClientTls::for_join(&root.root_fingerprint()).unwrap();
    let client_only = Endpoint::bind(LOOPBACK.parse().unwrap(), None, &join).unwrap();
    let server = ServerTls::new(&a, &roots(&root), Revocations::new()).unwrap();
    client_only.set_server_tls(Some(&server)).unwrap();
    let mut accepted = accept_loop(&client_only);
    let b = enrol(&root, "laptop-b");
    let client = device(&b, &roots(&root), &Revocations::new());
    let conn = within("connect", client.connect(addr(&client_only)))
        .await
        .unwrap();
    assert_eq!(conn.peer().unwrap().device_id, "desk-a");
    assert!(within("accept", accepted.recv()).await.unwrap().is_ok());

    ep.close(close_code::SHUTDOWN, "bye");
    assert!(within("accept after close", ep.accept()).await.is_none());
    within("idle", ep.wait_idle()).await;
}

#[test]
fn bind_outside_a_runtime_is_an_error_not_a_panic() {
    let join = ClientTls::for_join(&"ab".repeat(32)).unwrap();
    let err = Endpoint::bind(LOOPBACK.parse().unwrap(), None, &join).unwrap_err();
    assert_eq!(err.code(), "net.no_runtime");
}
