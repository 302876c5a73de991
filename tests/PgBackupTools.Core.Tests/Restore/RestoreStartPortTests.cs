using System.Net;
using System.Net.Sockets;
using PgBackupTools.Core.Errors;
using PgBackupTools.Core.Repository;
using PgBackupTools.Core.Restore;
using PgBackupTools.TestKit;

namespace PgBackupTools.Core.Tests.Restore;

/// <summary>Restore -Start onto a port something else already listens on: the failure says which port and how to choose another.</summary>
[Collection("cluster")]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")] // runuser, chown: the test clusters are Linux-only
public sealed class RestoreStartPortTests : IDisposable
{
    private readonly TempDirectory _temp = new();
    private readonly List<string> _started = [];
    private string RepoPath => Path.Combine(_temp.Path, "repo");

    [Fact]
    public async Task A_restored_server_whose_port_is_taken_fails_naming_the_port_and_how_to_pick_a_free_one_and_then_starts_on_one()
    {
        using var cluster = await ArchivingCluster.StartAsync(RepoPath, _temp.Path);
        var backup = await ArchivingCluster.BackupAsync(RepoPath, cluster);
        using var repo = await BackupRepository.OpenAsync(RepoPath, create: false, CancellationToken.None);

        // A real listener on the address the restored server listens on (the backup's listen_addresses, 127.0.0.1).
        using var holder = new TcpListener(IPAddress.Loopback, 0);
        holder.Start();
        int taken = ((IPEndPoint)holder.LocalEndpoint).Port;
        string dir = Path.Combine(_temp.Path, "restored");
        _started.Add(dir);
        var options = ArchivingCluster.StartedRestore(dir) with { Port = taken, Immediate = true };
        var e = await Assert.ThrowsAsync<PgBackupException>(() => PhysicalRestoreJob.RunAsync(repo, backup, options, OperationContext.None));
        Assert.Contains($"Port {taken} is taken", e.Message);
        Assert.Contains(Path.Combine(dir, "postgresql.auto.conf"), e.Message);
        Assert.Contains("-Port", e.Message);
        Assert.Contains("Address already in use", e.Message); // the log tail stays below the advice

        // The advice works: a free port in postgresql.auto.conf, and pg_ctl start recovers what was restored.
        int free = PgTestCluster.FindFreePort();
        string conf = Path.Combine(dir, "postgresql.auto.conf");
        File.WriteAllText(conf, File.ReadAllText(conf).Replace($"port = {taken}", $"port = {free}"));
        PgTestCluster.RunAsServerUser(Path.Combine(PgTestCluster.FindBinDirectory(), "pg_ctl"), "-D", dir, "-l", Path.Combine(dir, "log", "pgbt-restore.log"), "-w", "-t", "120", "start");
        for (var wait = System.Diagnostics.Stopwatch.StartNew(); ArchivingCluster.PsqlAt(free, "SELECT pg_is_in_recovery()") == "True"; await Task.Delay(200))
            Assert.True(wait.Elapsed < TimeSpan.FromMinutes(2), "recovery did not end");
        Assert.Equal("False", ArchivingCluster.PsqlAt(free, "SELECT pg_is_in_recovery()"));
    }

    [Fact]
    public async Task Without_Port_the_restored_server_is_watched_on_the_port_its_restored_configuration_chose()
    {
        var source = await ArchivingCluster.StartAsync(RepoPath, _temp.Path);
        int sourcePort = source.Port; // the test cluster's postgresql.conf says port = sourcePort, and the backup carries it
        var backup = await ArchivingCluster.BackupAsync(RepoPath, source);
        source.Dispose(); // frees its port: the restored copy takes it over
        using var repo = await BackupRepository.OpenAsync(RepoPath, create: false, CancellationToken.None);
        string dir = Path.Combine(_temp.Path, "restored");
        _started.Add(dir);
        // The source's socket directory went with it: a missing one stops the server, and says so (see below).
        var options = ArchivingCluster.StartedRestore(dir) with { Port = null, Immediate = true, RecoveryTimeout = TimeSpan.FromMinutes(2) };
        var e = await Assert.ThrowsAsync<PgBackupException>(() => PhysicalRestoreJob.RunAsync(repo, backup, options, OperationContext.None));
        Assert.Contains("unix_socket_directories", e.Message);
        Assert.Contains("does not exist on this host", e.Message);

        options = options with { Force = true, Settings = new Dictionary<string, string> { ["archive_mode"] = "off", ["unix_socket_directories"] = "/tmp" } };
        var result = await PhysicalRestoreJob.RunAsync(repo, backup, options, OperationContext.None);

        Assert.Equal(sourcePort, result.Port);
        Assert.Equal("promoted", result.RecoveryState);
        Assert.Equal("False", ArchivingCluster.PsqlAt(sourcePort, "SELECT pg_is_in_recovery()"));
        Assert.Equal(dir, ArchivingCluster.PsqlAt(sourcePort, "SHOW data_directory"));
    }

    [Fact]
    public void The_port_is_read_from_the_log_hint_or_a_socket_lock_file_and_other_failures_are_not_taken_for_it()
    {
        var options = new PhysicalRestoreOptions { DataDirectory = "/tmp/x", WalEntryPoint = "pgbt-wal", Port = 6000 };
        Assert.Equal(5433, PhysicalRestoreJob.PortTaken(
            "LOG:  could not bind IPv4 address \"0.0.0.0\": Address already in use\nHINT:  Is another postmaster already running on port 5433? If not, wait a few seconds and retry.", options));
        Assert.Equal(6000, PhysicalRestoreJob.PortTaken("LOG:  could not bind IPv6 address \"::1\": Address already in use", options));
        Assert.Equal(5432, PhysicalRestoreJob.PortTaken(
            "FATAL:  lock file \"/var/run/postgresql/.s.PGSQL.5432.lock\" already exists\nHINT:  Is another postmaster (PID 4242) using socket file \"/var/run/postgresql/.s.PGSQL.5432\"?", options));
        Assert.Null(PhysicalRestoreJob.PortTaken("FATAL:  recovery ended before configured recovery target was reached", options));
    }

    public void Dispose()
    {
        ArchivingCluster.StopRestored(_started);
        _temp.Dispose();
    }
}
