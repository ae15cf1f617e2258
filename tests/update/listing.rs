//! Listing and choosing: recommended, latest, update available, notes, errors.

use super::fixture::*;
use p1ib::update::{Channel, InstallKind, Settings, Updater};

fn settings(base_url: &str, channel: Channel, installed: &str) -> Settings {
    let mut s = Settings::new(InstallKind::Standalone {
        exe: "/nonexistent/p1ib".into(),
    });
    s.base_url = base_url.to_string();
    s.channel = channel;
    s.current_version = installed.to_string();
    s
}

fn three_releases() -> Vec<ReleaseSpec> {
    let platform = p1ib::update::Platform::current();
    let asset = |v: &str| Asset {
        name: platform.standalone_asset(v),
        bytes: b"x".to_vec(),
        sum: Sum::Digest,
    };
    vec![
        ReleaseSpec {
            tag: "v0.2.0",
            prerelease: false,
            notes: "Faster decoder",
            assets: vec![asset("0.2.0")],
        },
        ReleaseSpec {
            tag: "v0.3.0-rc.1",
            prerelease: true,
            notes: "Try me",
            assets: vec![asset("0.3.0-rc.1")],
        },
        ReleaseSpec {
            tag: "v0.1.0",
            prerelease: false,
            notes: "First",
            assets: vec![],
        },
    ]
}

#[tokio::test]
async fn lists_releases_newest_first_with_notes() {
    let gh = FakeGithub::start().await;
    gh.publish(three_releases());
    let u = Updater::new(settings(&gh.base_url, Channel::Stable, "0.1.0")).unwrap();
    let st = u.check_now().await.unwrap();
    let versions: Vec<_> = st.releases.iter().map(|r| r.version.as_str()).collect();
    assert_eq!(versions, ["0.3.0-rc.1", "0.2.0", "0.1.0"]);
    assert_eq!(st.releases[1].notes, "Faster decoder");
    assert!(st.releases[0].prerelease && !st.releases[1].prerelease);
    assert!(st.releases[1].installable && !st.releases[2].installable);
    assert!(st.last_check_unix.is_some() && st.last_error.is_none());
    assert_eq!(u.status(), st);
}

#[tokio::test]
async fn recommended_skips_prereleases_and_latest_includes_them() {
    let gh = FakeGithub::start().await;
    gh.publish(three_releases());
    let u = Updater::new(settings(&gh.base_url, Channel::Stable, "0.1.0")).unwrap();
    let st = u.check_now().await.unwrap();
    assert_eq!(st.recommended.as_deref(), Some("0.2.0"));
    assert_eq!(st.latest.as_deref(), Some("0.3.0-rc.1"));
}

#[tokio::test]
async fn update_available_follows_the_channel() {
    let gh = FakeGithub::start().await;
    gh.publish(three_releases());
    let check = |channel, installed| {
        let u = Updater::new(settings(&gh.base_url, channel, installed)).unwrap();
        async move { u.check_now().await.unwrap().update_available }
    };
    assert!(check(Channel::Stable, "0.1.0").await);
    assert!(
        !check(Channel::Stable, "0.2.0").await,
        "stable ignores the rc"
    );
    assert!(
        check(Channel::Prerelease, "0.2.0").await,
        "prerelease channel offers the rc"
    );
    assert!(!check(Channel::Prerelease, "0.3.0-rc.1").await);
}

#[tokio::test]
async fn a_release_list_too_large_or_not_json_is_refused_and_the_last_list_kept() {
    let gh = FakeGithub::start().await;
    gh.publish(three_releases());
    let u = Updater::new(settings(&gh.base_url, Channel::Stable, "0.1.0")).unwrap();
    u.check_now().await.unwrap();
    // 9 MiB of a JSON array that never ends: refused before it is all read.
    gh.serve_raw(format!(
        "[{}",
        "{\"tag_name\":\"v9\"},".repeat(9 << 20 >> 4)
    ));
    let err = u.check_now().await.unwrap_err();
    assert!(err.to_string().contains("larger than"), "{err}");
    gh.serve_raw("<html>rate limited</html>".into());
    let err = u.check_now().await.unwrap_err();
    assert!(err.to_string().contains("not a release list"), "{err}");
    assert_eq!(u.status().releases.len(), 3, "the last good list stays");
}

#[tokio::test]
async fn a_failed_check_is_shown_in_the_status_and_keeps_the_last_list() {
    let gh = FakeGithub::start().await;
    gh.publish(three_releases());
    let u = Updater::new(settings(&gh.base_url, Channel::Stable, "0.1.0")).unwrap();
    u.check_now().await.unwrap();
    gh.fail(true);
    let err = u.check_now().await.unwrap_err();
    assert!(err.to_string().contains("HTTP 500"), "{err}");
    let st = u.status();
    assert!(st.last_error.as_deref().unwrap().contains("HTTP 500"));
    assert_eq!(st.releases.len(), 3, "the last good list stays");
}

#[tokio::test]
async fn the_checker_task_checks_at_start_and_stops_on_shutdown() {
    let gh = FakeGithub::start().await;
    gh.publish(three_releases());
    let u = Updater::new(settings(&gh.base_url, Channel::Stable, "0.1.0")).unwrap();
    let mut rx = u.subscribe();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(p1ib::update::run(
        u.clone(),
        crate::support::token_after(async {
            let _ = stopped.await;
        }),
    ));
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        rx.wait_for(|s| s.last_check_unix.is_some()),
    )
    .await
    .expect("checked at start")
    .unwrap();
    assert!(u.status().update_available);
    stop.send(()).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(5), task)
        .await
        .expect("stops on shutdown")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn checks_can_be_switched_off() {
    let mut s = settings(
        "http://127.0.0.1:9/repos/p1ib/p1ib",
        Channel::Stable,
        "0.1.0",
    );
    s.check_interval = None;
    let u = Updater::new(s).unwrap();
    let run = p1ib::update::run(
        u.clone(),
        crate::support::token_after(tokio::time::sleep(std::time::Duration::from_millis(200))),
    );
    run.await.unwrap();
    assert_eq!(u.status().last_check_unix, None, "never asked the API");
}
