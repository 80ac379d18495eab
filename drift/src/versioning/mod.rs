//! Version grammars per ecosystem.
