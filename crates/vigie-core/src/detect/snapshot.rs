//! Snapshots of the detector state: being written.
