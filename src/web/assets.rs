//! The web UI, built into the binary: `build.rs` assembles the dashboard
//! (`assets/src/` and uPlot from the npm registry, pinned by
//! `assets/package-lock.json`) and the Wi-Fi page (`assets/wifi/`) into `OUT_DIR`,
//! and this module embeds the result with `include_bytes!`, so the daemon serves
//! its pages with no files beside it and no internet. Serves bytes only; builds
//! nothing.
//!
//! No third-party code is kept in the repository; a crate such as rust-embed
//! would add a proc macro for what is a handful of fixed files.

use super::Web;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

/// One embedded file.
pub struct Asset {
    pub name: &'static str,
    pub content_type: &'static str,
    pub bytes: &'static [u8],
}

/// The dashboard's files (`index.html` is served at `/`, the others at `/assets/NAME`).
pub const ASSETS: &[Asset] = &[
    Asset {
        name: "index.html",
        content_type: "text/html; charset=utf-8",
        bytes: include_bytes!(concat!(env!("OUT_DIR"), "/web/index.html")),
    },
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!(concat!(env!("OUT_DIR"), "/web/app.js")),
    },
    Asset {
        name: "app.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!(concat!(env!("OUT_DIR"), "/web/app.css")),
    },
    Asset {
        name: "icon.svg",
        content_type: "image/svg+xml",
        bytes: include_bytes!(concat!(env!("OUT_DIR"), "/web/icon.svg")),
    },
];

/// The Wi-Fi page's files (`index.html` is served at `/wifi`, the others at
/// `/wifi/NAME`, by [`super::wifi`]).
pub const WIFI: &[Asset] = &[
    Asset {
        name: "index.html",
        content_type: "text/html; charset=utf-8",
        bytes: include_bytes!(concat!(env!("OUT_DIR"), "/web/wifi/index.html")),
    },
    Asset {
        name: "wifi.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!(concat!(env!("OUT_DIR"), "/web/wifi/wifi.js")),
    },
    Asset {
        name: "wifi.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!(concat!(env!("OUT_DIR"), "/web/wifi/wifi.css")),
    },
];

/// A set of files and their ETags, worked out once.
struct Page {
    files: &'static [Asset],
    etags: OnceLock<Vec<String>>,
}

static DASHBOARD: Page = Page {
    files: ASSETS,
    etags: OnceLock::new(),
};

static WIFI_PAGE: Page = Page {
    files: WIFI,
    etags: OnceLock::new(),
};

impl Page {
    fn etags(&self) -> &[String] {
        self.etags.get_or_init(|| {
            self.files
                .iter()
                .map(|a| {
                    let h = Sha256::digest(a.bytes);
                    let hex: String = h[..8].iter().map(|b| format!("{b:02x}")).collect();
                    format!("\"{hex}\"")
                })
                .collect()
        })
    }
}

fn serve(page: &Page, i: usize, headers: &HeaderMap) -> Response {
    let a = &page.files[i];
    let etag = &page.etags()[i];
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut resp = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        a.bytes.into_response()
    };
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(a.content_type),
    );
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, v);
    }
    // Revalidate every time: a firmware update changes the files under the same names.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

/// `GET /`: the single page (dashboard, settings and firmware are its views).
pub async fn index(State(_): State<Web>, headers: HeaderMap) -> Response {
    serve(&DASHBOARD, 0, &headers)
}

/// `GET /assets/{file}`.
pub async fn file(Path(name): Path<String>, headers: HeaderMap) -> Response {
    match ASSETS.iter().position(|a| a.name == name) {
        Some(i) if i > 0 => serve(&DASHBOARD, i, &headers),
        _ => super::ApiError::NotFound.into_response(),
    }
}

/// One of the Wi-Fi page's files, by name; `None` when there is no such file.
pub fn serve_wifi(name: &str, headers: &HeaderMap) -> Option<Response> {
    let i = WIFI.iter().position(|a| a.name == name)?;
    Some(serve(&WIFI_PAGE, i, headers))
}
