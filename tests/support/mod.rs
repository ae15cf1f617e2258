//! What more than one area's tests share: the headless-browser runner
//! ([`browser`]) that the web and network areas drive their pages with.

pub mod browser;
