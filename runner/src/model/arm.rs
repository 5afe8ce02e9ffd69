//! [`Arm`]: what the results call one arm of a run, a server and, for an arm with a choice of I/O driver,
//! the driver it ran on. Tables, charts, progress lines and file stems all name an arm through it, so a
//! label means the same thing everywhere and depends only on what a test recorded.

use std::fmt;

use shared::IoDriver;

/// One arm of a run: `axum`, `monoio/io_uring`, `monoio/epoll`. A record without a driver (an arm with no
/// driver choice, or a run recorded before the runner had the axis) is named by its server alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Arm<'a> {
    pub server: &'a str,
    pub io_driver: Option<IoDriver>,
}

impl<'a> Arm<'a> {
    pub fn new(server: &'a str, io_driver: Option<IoDriver>) -> Arm<'a> {
        Arm { server, io_driver }
    }

    /// The label as file stems carry it (`monoio-epoll`): no `/`, which would name a folder.
    pub fn file_name(&self) -> String {
        match self.io_driver {
            Some(driver) => format!("{}-{driver}", self.server),
            None => self.server.to_owned(),
        }
    }
}

impl fmt::Display for Arm<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.io_driver {
            Some(driver) => write!(f, "{}/{driver}", self.server),
            None => f.write_str(self.server),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_arm_with_a_driver_names_it_in_labels_and_file_names() {
        let epoll = Arm::new("monoio", Some(IoDriver::Epoll));
        assert_eq!((epoll.to_string(), epoll.file_name()), ("monoio/epoll".to_owned(), "monoio-epoll".to_owned()));
        let uring = Arm::new("monoio-hyper", Some(IoDriver::IoUring));
        assert_eq!(uring.to_string(), "monoio-hyper/io_uring");
        let plain = Arm::new("axum", None);
        assert_eq!((plain.to_string(), plain.file_name()), ("axum".to_owned(), "axum".to_owned()));
    }
}
