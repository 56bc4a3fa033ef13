//! System-tag evolution helpers (under construction).
