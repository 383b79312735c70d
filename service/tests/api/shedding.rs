//! Load shedding of password posts (issue #15): past the hashing pool's
//! capacity a password post is answered 503 at once, with `Retry-After` and
//! a page that says to try again, and it is not counted against the account
//! or the source address. Not a timing test: it counts answers and rows.

use crate::support::*;
use sha2::{Digest, Sha256};

/// One hashing worker and a maximum wait of 1 ms: a post finds the worker
/// idle or is shed. The argon2 cost is raised so that each hash lasts long
/// enough (tens of ms) for a concurrent burst to overlap it.
async fn narrow_app() -> TestApp {
    TestApp::spawn_with(|s| {
        s.hash_workers = 1;
        s.hash_queue_max_wait_ms = 1;
        s.argon2_memory_kib = 16 * 1024;
        s.argon2_iterations = 3;
        s.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_shed_password_post_gets_503_and_counts_for_nothing() {
    let app = narrow_app().await;
    let email = "shed@example.com";
    let mut owner = app.browser();
    assert_eq!(owner.register(email, PASSWORD).await.status, 303);
    let pool = app.app().hashing.pool();
    assert_eq!(pool.workers(), 1);
    assert_eq!(pool.max_queue(), 1, "1 worker × 1 ms");

    // Open the pool's connections first (a code page with an unknown login
    // cookie costs one query each): connecting is CPU work (SCRAM) that
    // would otherwise land in the middle of the burst on a debug build.
    let cookie = app.app().cookies.login.clone();
    let warm: Vec<_> = (0..24)
        .map(|_| {
            let mut b = app.browser();
            b.cookies.insert(cookie.clone(), "unknown".into());
            tokio::spawn(async move { b.get("/login/totp").await.status })
        })
        .collect();
    for w in warm {
        assert_eq!(w.await.unwrap(), 303);
    }
    assert_eq!(app.browser().get("/readyz").await.status, 200);
    // 16 wrong-password posts at once, half of them in Portuguese, with a
    // readiness check among them.
    let mut browsers = Vec::new();
    for i in 0..16 {
        let mut b = app.browser();
        if i % 2 == 1 {
            b.headers.push(("accept-language".into(), "pt".into()));
        }
        assert_eq!(b.get("/login").await.status, 200);
        browsers.push(b);
    }
    let mut tasks = Vec::new();
    for mut b in browsers {
        tasks.push(tokio::spawn(async move {
            let pt = b.headers.iter().any(|(_, v)| v == "pt");
            let r = b
                .post(
                    "/login",
                    &[
                        ("email", "shed@example.com"),
                        ("password", "not the password, no"),
                    ],
                )
                .await;
            (pt, r)
        }));
    }
    let mut ready = app.browser();
    let readyz = ready.get("/readyz").await;
    let (mut wrong, mut shed) = (0i32, 0i32);
    for t in tasks {
        let (pt, r) = t.await.unwrap();
        match r.status {
            401 => wrong += 1,
            503 => {
                shed += 1;
                let wait: u64 = r
                    .header("retry-after")
                    .parse()
                    .expect("a shed post carries Retry-After in seconds");
                assert!(wait >= 1, "Retry-After {wait}");
                let message = if pt {
                    "Tente de novo daqui a"
                } else {
                    "Please try again in"
                };
                assert!(r.body.contains(message), "try-again page: {}", r.body);
                assert!(
                    r.set_cookies().is_empty(),
                    "the form's CSRF cookie is kept: {:?}",
                    r.set_cookies()
                );
            }
            // The account's delay starts after 5 counted failures.
            429 => {}
            other => panic!("unexpected {other}: {}", r.body),
        }
    }
    assert!(shed >= 1, "16 posts at once on 1 worker: some are shed");
    assert!(wrong >= 1, "the idle worker takes a post");
    assert_eq!(readyz.status, 200, "shedding is not an outage");
    assert!(
        pool.peak_queued() <= pool.max_queue(),
        "queue peaked at {} over its bound {}",
        pool.peak_queued(),
        pool.max_queue()
    );

    // Only the posts that were checked count: per account and per address.
    let db = app.db().await;
    let key = format!("pw:{}", hex::encode(Sha256::digest(email.as_bytes())));
    let failures: i32 = db
        .query_one("SELECT failures FROM throttle WHERE key = $1", &[&key])
        .await
        .unwrap()
        .get(0);
    assert_eq!(failures, wrong, "{shed} shed posts were not counted");
    let per_ip: i32 = db
        .query_one("SELECT failures FROM throttle WHERE key LIKE 'ip:%'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(per_ip, wrong);

    let metrics_addr = app.server.as_ref().unwrap().metrics_addr.unwrap();
    let metrics = Browser::new(&format!("http://{metrics_addr}"))
        .get("/metrics")
        .await
        .body;
    let counted = |name: &str| -> f64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in /metrics"))
    };
    // Process-wide counters: other tests' apps may add to them.
    assert!(counted("twofa_hash_shed_total") >= f64::from(shed));
    assert!(counted("twofa_hash_queue_wait_seconds_count") >= f64::from(wrong));
    assert!(metrics.contains("twofa_hash_queue_length "));
}

/// With the only worker held, a password post is refused before the
/// database: no throttle row at all for its account name or its address
/// (not even a claimed and refunded one), and the same post once the worker
/// is free is judged and counted, so the rows are there to be found.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_shed_password_post_touches_no_throttle_row() {
    let app = narrow_app().await;
    let pool = app.app().hashing.pool().clone();
    // A real hash first, so the pool's cost estimate is a real one (far
    // above the 1 ms maximum wait).
    let mut first = app.browser();
    assert_eq!(first.get("/login").await.status, 200);
    let warm = first
        .post(
            "/login",
            &[
                ("email", "warm@example.com"),
                ("password", "whatever it is"),
            ],
        )
        .await;
    assert_eq!(warm.status, 401, "{}", warm.body);

    let held = Held::take(&pool).await;

    let db = app.db().await;
    let email = "nobody-shed@example.com";
    let key = format!("pw:{}", hex::encode(Sha256::digest(email.as_bytes())));
    let rows = |k: String| {
        let db = &db;
        async move {
            db.query("SELECT failures FROM throttle WHERE key = $1", &[&k])
                .await
                .unwrap()
                .iter()
                .map(|r| r.get::<_, i32>(0))
                .collect::<Vec<i32>>()
        }
    };
    let ip_rows_before: i64 = db
        .query_one("SELECT count(*) FROM throttle WHERE key LIKE 'ip:%'", &[])
        .await
        .unwrap()
        .get(0);

    let mut b = app.browser();
    assert_eq!(b.get("/login").await.status, 200);
    for _ in 0..3 {
        let r = b
            .post(
                "/login",
                &[("email", email), ("password", "wrong, and shed")],
            )
            .await;
        assert_eq!(r.status, 503, "{}", r.body);
        assert!(r.header("retry-after").parse::<u64>().unwrap() >= 1);
        assert!(r.body.contains("Please try again in"), "{}", r.body);
    }
    assert_eq!(rows(key.clone()).await, Vec::<i32>::new(), "account row");
    let ip_rows: i64 = db
        .query_one("SELECT count(*) FROM throttle WHERE key LIKE 'ip:%'", &[])
        .await
        .unwrap()
        .get(0);
    let ip_failures: i64 = db
        .query_one(
            "SELECT coalesce(sum(failures), 0)::bigint FROM throttle WHERE key LIKE 'ip:%'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(ip_rows, ip_rows_before, "no new address row");
    assert_eq!(ip_failures, 1, "only the warm-up's wrong password counts");

    // Free the worker: the same post is now checked and counted once.
    held.release(&pool).await;
    let r = b
        .post(
            "/login",
            &[("email", email), ("password", "wrong, and judged")],
        )
        .await;
    assert_eq!(r.status, 401, "{} {}", r.status, r.body);
    assert_eq!(rows(key).await, vec![1]);
}

/// The account page's first step (password and code) is shed the same way:
/// with the only worker held, the right password and a valid code get 503
/// and `Retry-After`, and the throttle table is exactly as it was (no slot
/// claimed, none refunded); once the worker is free the same form is judged
/// and a wrong password counted once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_account_page_sheds_before_taking_a_slot() {
    let app = narrow_app().await;
    let pool = app.app().hashing.pool().clone();
    // Registration and sign-in hash for real: the cost estimate is a real
    // one, far above the 1 ms maximum wait.
    let (mut b, secret, _codes) = app.enrolled_user("account-shed@example.com").await;
    let db = app.db().await;
    let throttle = || {
        let db = &db;
        async move {
            db.query("SELECT key, failures FROM throttle ORDER BY key", &[])
                .await
                .unwrap()
                .iter()
                .map(|r| (r.get::<_, String>(0), r.get::<_, i32>(1)))
                .collect::<Vec<_>>()
        }
    };
    let before = throttle().await;

    let held = Held::take(&pool).await;
    for action in ["password", "authenticator", "recovery-codes", "delete"] {
        b.get("/account").await;
        let r = b
            .post(
                &format!("/account/{action}"),
                &[("password", PASSWORD), ("code", &totp_now(&secret))],
            )
            .await;
        assert_eq!(r.status, 503, "{action}: {}", r.body);
        assert!(r.header("retry-after").parse::<u64>().unwrap() >= 1);
        assert!(r.body.contains("Please try again in"), "{}", r.body);
    }
    assert_eq!(throttle().await, before, "a shed post takes no slot");
    assert_eq!(app.count("account_proofs").await, 0);

    held.release(&pool).await;
    b.get("/account").await;
    let r = b
        .post(
            "/account/password",
            &[
                ("password", "not the password"),
                ("code", &totp_now(&secret)),
            ],
        )
        .await;
    assert_eq!(r.status, 401, "{}", r.body);
    let device: Vec<i32> = throttle()
        .await
        .into_iter()
        .filter(|(k, _)| k.starts_with("dev:"))
        .map(|(_, f)| f)
        .collect();
    assert_eq!(device, vec![1], "the judged wrong password counts once");
}

/// The pool's only worker, held busy by a job that waits until released.
struct Held {
    go: std::sync::mpsc::Sender<()>,
    job: tokio::task::JoinHandle<Result<(), twofa::auth::hash_pool::HashError>>,
}

impl Held {
    async fn take(pool: &twofa::auth::hash_pool::HashPool) -> Held {
        wait_idle(pool).await;
        let (go, wait) = std::sync::mpsc::channel::<()>();
        let (started, running) = tokio::sync::oneshot::channel::<()>();
        let job = tokio::spawn({
            let pool = pool.clone();
            async move {
                pool.run(move |_scratch| {
                    let _ = started.send(());
                    let _ = wait.recv();
                })
                .await
            }
        });
        running.await.expect("the held job started");
        assert_eq!(pool.busy(), 1);
        assert!(pool.would_shed().is_some(), "a busy worker, 1 ms to wait");
        Held { go, job }
    }

    async fn release(self, pool: &twofa::auth::hash_pool::HashPool) {
        self.go.send(()).unwrap();
        self.job.await.unwrap().expect("the held job ran");
        wait_idle(pool).await;
    }
}

/// The worker counts itself idle just after a job's answer is sent: wait
/// (bounded) until it has, so the next job is not shed by that gap.
async fn wait_idle(pool: &twofa::auth::hash_pool::HashPool) {
    for _ in 0..500 {
        if pool.busy() == 0 && pool.queued() == 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the hashing worker stayed busy for 5 s");
}
