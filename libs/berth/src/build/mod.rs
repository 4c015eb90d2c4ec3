//! Image builds (issue 16): `img-build`'s library. [`dockerfile`] parses, [`builder`] runs the
//! stages; [`context`] and [`copy`] read the build context and write COPY/ADD layers, [`run`] runs
//! RUN steps in containers, [`cache`] keeps the step records, [`history`] writes Docker's lines,
//! [`source`] reads a context or a Dockerfile from stdin.

pub mod builder;
pub mod cache;
pub mod context;
pub mod copy;
pub mod dockerfile;
pub mod emit;
pub mod history;
pub mod run;
pub mod source;
pub mod step;
