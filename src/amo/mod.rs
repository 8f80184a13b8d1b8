//! amoCRM API v4: OAuth with token files under a lock, one rate-limited, retrying HTTP
//! client, and the calls the worker needs.
