//! The self-updater against a local HTTP server that speaks the GitHub releases API and serves
//! signed, tampered and unsigned artifacts: listing, choosing, verification, refusal, the
//! standalone swap and the .deb staging hand-off (both sides). Loopback only.

mod fixture;
mod hand_off;
mod listing;
mod standalone;
