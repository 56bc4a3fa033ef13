//! Command functions (under construction).
