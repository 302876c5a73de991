using System.Net;
using System.Net.Sockets;
using PgBackupTools.Core.Repository;
using PgBackupTools.Core.Tests.Wal;
using PgBackupTools.Core.Verify;
using PgBackupTools.TestKit;

namespace PgBackupTools.Core.Tests.Restore;

/// <summary>
/// Test-PgBackup -Restore of a physical backup picks its scratch server's port before the restore and binds it only
/// after: a port taken meanwhile moves the server to another one instead of failing a nightly check for nothing.
/// </summary>
[Collection("cluster")]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")] // runuser, chown: the test clusters are Linux-only
public sealed class TestRestorePortTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task A_scratch_port_taken_before_the_server_starts_moves_it_to_another_and_the_test_restore_passes()
    {
        string repoPath = Path.Combine(_temp.Path, "repo");
        using var cluster = await ArchivingCluster.StartAsync(repoPath, _temp.Path);
        var backup = await ArchivingCluster.BackupAsync(repoPath, cluster);
        using var repo = await BackupRepository.OpenAsync(repoPath, create: false, CancellationToken.None);

        using var holder = new TcpListener(IPAddress.Loopback, 0);
        holder.Start();
        int taken = ((IPEndPoint)holder.LocalEndpoint).Port;
        var ports = new Queue<int>([taken]);
        var log = new List<string>();
        var original = BackupTestJob.ChoosePort;
        BackupTestJob.ChoosePort = () => ports.TryDequeue(out int port) ? port : PgTestCluster.FindFreePort();
        try
        {
            var test = await BackupTestJob.RunAsync(repo, backup, null, restore: true, [], new OperationContext { Verbose = log.Add }, WalTestSegments.EntryPoint);
            Assert.True(test.Passed, test.Error + string.Join('\n', test.Checks.Select(c => $"{c.Kind} {c.Name}: {c.Actual}")));
            Assert.Contains(log, line => line.Contains($"Port {taken} was taken", StringComparison.Ordinal));
            Assert.Contains(test.Checks, c => c.Kind == "Recovery" && c.Passed);
        }
        finally
        {
            BackupTestJob.ChoosePort = original;
        }
    }
}
