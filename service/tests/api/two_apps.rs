//! Two instances against one database behave as one.

use crate::flow::other_code;
use crate::support::*;

#[tokio::test]
async fn login_started_on_one_app_finishes_on_the_other() {
    wait_for_fresh_step(6).await;
    let a = TestApp::spawn().await;
    let b_app = a.sibling().await;
    let (_, secret, _) = a.enrolled_user("hal@example.com").await;
    let mut on_a = a.browser();
    assert_eq!(
        on_a.login("hal@example.com", PASSWORD).await.location(),
        "/login/totp"
    );
    let mut on_b = b_app.browser_like(&on_a);
    let r = on_b.code(&totp_at(&secret, 1)).await;
    assert_eq!((r.status, r.location()), (303, "/welcome"));
    // And the session works on the first app.
    let mut back = a.browser_like(&on_b);
    assert_eq!(back.get("/welcome").await.status, 200);
}

#[tokio::test]
async fn a_code_accepted_on_one_app_is_refused_on_the_other() {
    wait_for_fresh_step(6).await;
    let a = TestApp::spawn().await;
    let b_app = a.sibling().await;
    let (_, secret, _) = a.enrolled_user("ivy@example.com").await;
    let code = totp_at(&secret, 1);
    let mut x = a.browser();
    x.login("ivy@example.com", PASSWORD).await;
    assert_eq!(x.code(&code).await.status, 303);
    let mut y = b_app.browser();
    y.login("ivy@example.com", PASSWORD).await;
    assert_eq!(y.code(&code).await.status, 401);
}

#[tokio::test]
async fn of_simultaneous_submissions_of_one_code_exactly_one_succeeds() {
    wait_for_fresh_step(8).await;
    let a = TestApp::spawn().await;
    let b_app = a.sibling().await;
    let (_, secret, _) = a.enrolled_user("jay@example.com").await;
    let code = totp_at(&secret, 1);
    // Eight pending logins of the same account, half on each app.
    let mut browsers = Vec::new();
    for i in 0..8 {
        let app = if i % 2 == 0 { &a } else { &b_app };
        let mut br = app.browser();
        assert_eq!(br.login("jay@example.com", PASSWORD).await.status, 303);
        br.get("/login/totp").await;
        browsers.push(br);
    }
    let tasks: Vec<_> = browsers
        .into_iter()
        .map(|mut br| {
            let code = code.clone();
            tokio::spawn(async move { br.code(&code).await.status })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 303).count(),
        1,
        "{statuses:?}"
    );
    // The others are replays, i.e. wrong codes: each took a slot of the
    // code delay before it was judged, so past the fifth they are refused
    // unjudged (429) unless the winner's success cleared the count first.
    assert!(
        statuses.iter().all(|s| [303, 401, 429].contains(s)),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn wrong_codes_on_both_apps_count_toward_one_lockout() {
    let a = TestApp::spawn().await;
    let b_app = a.sibling().await;
    let (_, secret, _) = a.enrolled_user("kim@example.com").await;
    let wrong = other_code(&secret);
    let mut x = a.browser();
    x.login("kim@example.com", PASSWORD).await;
    let mut y = b_app.browser_like(&x);
    for i in 0..5 {
        let r = if i % 2 == 0 {
            x.code(&wrong).await
        } else {
            y.code(&wrong).await
        };
        assert_eq!(r.status, 401, "attempt {i}");
    }
    // The sixth is refused on either app without being judged.
    for br in [&mut x, &mut y] {
        let r = br.code(&totp_at(&secret, 1)).await;
        assert_eq!(r.status, 429);
        assert!(r.header("retry-after").parse::<u64>().unwrap() >= 1);
    }
    let failures: i32 = a
        .db()
        .await
        .query_one("SELECT totp_failures FROM users", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(failures, 5);
}
