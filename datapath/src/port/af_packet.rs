//! AF_PACKET port (in progress).
