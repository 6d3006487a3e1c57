//! Approximate distinct counts over sliding windows (HyperLogLog): being written.
