//! The GitHub releases API as data: fetch the release list, parse it, pick "recommended" (the
//! newest non-prerelease) and "latest" (newest of all). Touches no file.

use super::UpdateError;
use serde::{Deserialize, Serialize};

/// One published release, newest first in a list.
#[derive(Debug, Clone, Serialize)]
pub struct Release {
    /// The semantic version from the tag (`v1.2.3` -> `1.2.3`).
    pub version: String,
    pub tag: String,
    pub name: String,
    /// The release notes (Markdown), as written on the release page.
    pub notes: String,
    pub published_at: Option<String>,
    pub prerelease: bool,
    /// The release page, for a "read more" link.
    pub url: String,
    #[serde(skip)]
    pub assets: Vec<Asset>,
    #[serde(skip)]
    pub(crate) semver: semver::Version,
}

/// One downloadable file of a release.
#[derive(Debug, Clone)]
pub struct Asset {
    pub name: String,
    pub url: String,
    pub size: u64,
    /// GitHub's own checksum of the file, `sha256:<hex>`, when the API gives one.
    pub digest: Option<String>,
}

#[derive(Deserialize)]
struct ApiRelease {
    tag_name: String,
    name: Option<String>,
    body: Option<String>,
    #[serde(default)]
    draft: bool,
    #[serde(default)]
    prerelease: bool,
    published_at: Option<String>,
    #[serde(default)]
    html_url: String,
    #[serde(default)]
    assets: Vec<ApiAsset>,
}

#[derive(Deserialize)]
struct ApiAsset {
    name: String,
    browser_download_url: String,
    #[serde(default)]
    size: u64,
    digest: Option<String>,
}

/// Parses the body of `GET /repos/{owner}/{repo}/releases`. Drafts and tags that are not a
/// semantic version are skipped; the result is sorted newest version first.
pub fn parse(json: &[u8]) -> Result<Vec<Release>, UpdateError> {
    let raw: Vec<ApiRelease> = serde_json::from_slice(json).map_err(UpdateError::Api)?;
    let mut releases: Vec<Release> = raw
        .into_iter()
        .filter(|r| !r.draft)
        .filter_map(|r| {
            let semver = semver::Version::parse(r.tag_name.trim_start_matches('v')).ok()?;
            Some(Release {
                version: semver.to_string(),
                name: r
                    .name
                    .filter(|n| !n.is_empty())
                    .unwrap_or_else(|| r.tag_name.clone()),
                tag: r.tag_name,
                notes: r.body.unwrap_or_default(),
                published_at: r.published_at,
                // A `-rc.1` version is a prerelease whatever the checkbox on GitHub says.
                prerelease: r.prerelease || !semver.pre.is_empty(),
                url: r.html_url,
                assets: r
                    .assets
                    .into_iter()
                    .map(|a| Asset {
                        name: a.name,
                        url: a.browser_download_url,
                        size: a.size,
                        digest: a.digest,
                    })
                    .collect(),
                semver,
            })
        })
        .collect();
    releases.sort_by(|a, b| b.semver.cmp(&a.semver));
    Ok(releases)
}

/// The newest release that is not a prerelease: what a cautious user installs.
pub fn recommended(releases: &[Release]) -> Option<&Release> {
    releases.iter().find(|r| !r.prerelease)
}

/// The newest release of all, prereleases included.
pub fn latest(releases: &[Release]) -> Option<&Release> {
    releases.first()
}

/// The list endpoint of the repository at `base_url` (`https://api.github.com/repos/O/N`).
pub fn releases_url(base_url: &str) -> String {
    format!("{}/releases?per_page=50", base_url.trim_end_matches('/'))
}

/// Fetches and parses the release list.
pub async fn fetch(client: &reqwest::Client, base_url: &str) -> Result<Vec<Release>, UpdateError> {
    let url = releases_url(base_url);
    let http = |source| UpdateError::Http {
        url: url.clone(),
        source,
    };
    let response = client
        .get(&url)
        .header(reqwest::header::ACCEPT, "application/vnd.github+json")
        .header("X-GitHub-Api-Version", "2022-11-28")
        .send()
        .await
        .map_err(http)?;
    if !response.status().is_success() {
        return Err(UpdateError::HttpStatus {
            url,
            status: response.status().as_u16(),
        });
    }
    // A release list is tens of kB; a server that sends more is not GitHub.
    let body = crate::http::body(response, MAX_RELEASES_BYTES)
        .await
        .map_err(|e| match e {
            crate::http::BodyError::TooLarge(max) => UpdateError::TooLarge {
                name: url.clone(),
                size: max as u64,
            },
            crate::http::BodyError::Http(source) => UpdateError::Http {
                url: url.clone(),
                source,
            },
        })?;
    parse(&body)
}

/// Most bytes of the releases API's answer.
const MAX_RELEASES_BYTES: usize = 8 * 1024 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    const LIST: &str = r#"[
      {"tag_name":"v0.3.0-rc.1","name":"","body":"rc","draft":false,"prerelease":true,"html_url":"h","assets":[]},
      {"tag_name":"v0.4.0","name":"Draft","body":"","draft":true,"prerelease":false,"html_url":"h","assets":[]},
      {"tag_name":"v0.2.1","name":"Fixes","body":"- fix","draft":false,"prerelease":false,"html_url":"h",
       "assets":[{"name":"a.tar.gz","browser_download_url":"http://x/a.tar.gz","size":3,"digest":"sha256:00"}]},
      {"tag_name":"nightly","name":"n","body":"","draft":false,"prerelease":true,"html_url":"h","assets":[]},
      {"tag_name":"v0.10.0-beta","name":"b","body":"","draft":false,"prerelease":false,"html_url":"h","assets":[]}
    ]"#;

    #[test]
    fn skips_drafts_and_tags_that_are_not_versions() {
        let r = parse(LIST.as_bytes()).unwrap();
        let versions: Vec<_> = r.iter().map(|r| r.version.as_str()).collect();
        assert_eq!(versions, ["0.10.0-beta", "0.3.0-rc.1", "0.2.1"]);
    }

    #[test]
    fn recommended_is_the_newest_non_prerelease_and_latest_includes_prereleases() {
        let r = parse(LIST.as_bytes()).unwrap();
        assert_eq!(recommended(&r).unwrap().version, "0.2.1");
        assert_eq!(latest(&r).unwrap().version, "0.10.0-beta");
        assert!(
            latest(&r).unwrap().prerelease,
            "a -beta version is a prerelease"
        );
    }

    #[test]
    fn keeps_notes_names_and_asset_digests() {
        let r = parse(LIST.as_bytes()).unwrap();
        let fixes = &r[2];
        assert_eq!(
            (fixes.name.as_str(), fixes.notes.as_str()),
            ("Fixes", "- fix")
        );
        assert_eq!(fixes.assets[0].digest.as_deref(), Some("sha256:00"));
        assert_eq!(
            r[1].name, "v0.3.0-rc.1",
            "an empty name falls back to the tag"
        );
    }

    #[test]
    fn rejects_an_answer_that_is_not_a_list() {
        assert!(matches!(
            parse(b"{\"message\":\"Not Found\"}"),
            Err(UpdateError::Api(_))
        ));
    }
}
