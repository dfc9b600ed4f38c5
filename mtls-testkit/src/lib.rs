//! Test PKI kit (being written).
