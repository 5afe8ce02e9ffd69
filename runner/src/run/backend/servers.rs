//! The [`Server`] trait over each kind of server process: a workspace binary here, an arm from the manifest,
//! a workspace binary on `--server-host`.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use shared::api::{EndpointInfo, Health};

use super::Server;
use crate::run::remote::RemoteServer;
use crate::sampling::procfs::group_members;
use crate::tools::external::ExternalServer;
use crate::tools::external::openapi::Coverage;
use crate::tools::server::ServerProcess;

impl Server for ServerProcess {
    fn pid(&self) -> u32 {
        ServerProcess::pid(self)
    }

    fn base_url(&self) -> String {
        ServerProcess::base_url(self)
    }

    fn db_path(&self) -> &Path {
        ServerProcess::db_path(self)
    }

    fn health_within(&self, timeout: Duration) -> Result<Health> {
        Ok(ServerProcess::health_within(self, timeout)?)
    }

    fn endpoints(&self) -> Result<Vec<EndpointInfo>> {
        Ok(ServerProcess::endpoints(self)?)
    }

    fn seed(&self) -> Result<()> {
        Ok(ServerProcess::seed(self)?)
    }

    fn exited(&self) -> Result<Option<String>> {
        Ok(self.exit_status()?.map(|status| status.to_string()))
    }

    fn other_processes(&self) -> Vec<u32> {
        group_members(ServerProcess::pid(self))
    }

    fn stderr_tail(&self) -> String {
        ServerProcess::stderr_tail(self)
    }

    fn stop(self: Box<Self>) -> Result<()> {
        let server = self.server().to_owned();
        ServerProcess::stop(*self).with_context(|| format!("stopping the {server} server"))?;
        Ok(())
    }
}

impl Server for ExternalServer {
    fn pid(&self) -> u32 {
        ExternalServer::pid(self)
    }

    fn base_url(&self) -> String {
        format!("http://{}", self.addr())
    }

    fn db_path(&self) -> &Path {
        ExternalServer::db_path(self)
    }

    fn health_within(&self, timeout: Duration) -> Result<Health> {
        Ok(ExternalServer::health_within(self, timeout)?)
    }

    fn endpoints(&self) -> Result<Vec<EndpointInfo>> {
        Ok(ExternalServer::coverage(self)?.served)
    }

    fn coverage(&self) -> Result<Coverage> {
        Ok(ExternalServer::coverage(self)?)
    }

    fn other_processes(&self) -> Vec<u32> {
        group_members(ExternalServer::pid(self))
    }

    fn seed(&self) -> Result<()> {
        Ok(ExternalServer::seed(self)?)
    }

    fn exited(&self) -> Result<Option<String>> {
        Ok(self.exit_status()?.map(|status| status.to_string()))
    }

    fn stderr_tail(&self) -> String {
        ExternalServer::stderr_tail(self)
    }

    fn stop(self: Box<Self>) -> Result<()> {
        let name = self.name().to_owned();
        ExternalServer::stop(*self).with_context(|| format!("stopping the {name} arm"))?;
        Ok(())
    }
}

impl Server for RemoteServer {
    fn pid(&self) -> u32 {
        self.process().pid()
    }

    fn base_url(&self) -> String {
        self.process().base_url()
    }

    fn db_path(&self) -> &Path {
        RemoteServer::db_path(self)
    }

    fn health_within(&self, timeout: Duration) -> Result<Health> {
        Ok(self.process().health_within(timeout)?)
    }

    fn endpoints(&self) -> Result<Vec<EndpointInfo>> {
        Ok(self.process().endpoints()?)
    }

    fn other_processes(&self) -> Vec<u32> {
        // A workspace server is one process started by exec; the watcher beside it on that host is not the
        // server's work.
        Vec::new()
    }

    fn seed(&self) -> Result<()> {
        Ok(self.process().seed()?)
    }

    fn exited(&self) -> Result<Option<String>> {
        Ok(self.process().exit_status()?.map(|status| status.to_string()))
    }

    fn stderr_tail(&self) -> String {
        self.process().stderr_tail()
    }

    fn stop(self: Box<Self>) -> Result<()> {
        RemoteServer::stop(*self)
    }
}
