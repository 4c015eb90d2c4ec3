//! ctr-create's flags and an image → a container's OCI runtime config plus Docker's Config and
//! HostConfig. OWNER: spec helper.
