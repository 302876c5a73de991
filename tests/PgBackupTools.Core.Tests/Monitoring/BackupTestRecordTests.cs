using PgBackupTools.Core.Backup;
using PgBackupTools.Core.Monitoring;
using PgBackupTools.Core.Repository;
using PgBackupTools.Core.Streams.Encryption;
using PgBackupTools.Core.Verify;

namespace PgBackupTools.Core.Tests.Monitoring;

/// <summary>Test-PgBackup's record in the repository, which the status reads its RTO from, against a real cluster.</summary>
[Collection("cluster")]
public sealed class BackupTestRecordTests(ClusterFixture fixture) : IDisposable
{
    private readonly TempDirectory _repoDir = new();
    private readonly TempDirectory _keys = new();
    private readonly List<string> _warnings = [];
    private OperationContext Context => new() { Warning = _warnings.Add };

    public void Dispose()
    {
        _repoDir.Dispose();
        _keys.Dispose();
    }

    private PassphraseSource KeyFile()
    {
        string path = Path.Combine(_keys.Path, Guid.NewGuid().ToString("N"));
        File.WriteAllText(path, "monitoring passphrase 42\n");
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        return PassphraseSource.FromKeyFile(path);
    }

    [Fact]
    public async Task An_encrypted_repository_authenticates_test_records_and_ignores_a_forged_one()
    {
        var db = fixture.CreateAuditDatabase(rows: 100);
        PgBackup backup;
        PgBackupTestResult result;
        using (var repo = await BackupRepository.OpenAsync(_repoDir.Path, create: true, default, KeyFile()))
        {
            backup = await LogicalBackupJob.RunAsync(repo, fixture.Connection(), new LogicalBackupOptions { Database = db }, Context);
            result = await BackupTestJob.RunAsync(repo, backup, fixture.Connection(), restore: true, [], Context);
            Assert.True(result.Passed);
            var status = Assert.Single(await BackupStatusCollector.CollectAsync(repo, new StatusOptions { Database = db }, Context));
            Assert.Equal(result.Duration, status.LastTestRestore!.Duration);
            Assert.True(status.LastTestRestoreAuthenticated);
            Assert.Equal(PgObjectiveStatus.Met, status.Objectives.Single(o => o.Objective == ObjectiveTargets.RtoName).Status);
        }
        string folder = Path.Combine(_repoDir.Path, "backups", backup.Stanza, backup.Id, BackupTestRecords.FolderName);
        string record = Assert.Single(Directory.GetFiles(folder, "*.json"));
        Assert.True(File.Exists(record + ".hmac"));

        // Without the passphrase the record is read but not trusted: the RTO is Unknown, not Met.
        using (var listing = await BackupRepository.OpenAsync(_repoDir.Path, create: false, default, passphrase: null, keyRequired: false))
        {
            var status = Assert.Single(await BackupStatusCollector.CollectAsync(listing, new StatusOptions { Database = db }, Context));
            Assert.False(status.LastTestRestoreAuthenticated);
            var rto = status.Objectives.Single(o => o.Objective == ObjectiveTargets.RtoName);
            Assert.Equal(PgObjectiveStatus.Unknown, rto.Status);
            Assert.Contains("not authenticated", rto.Evidence);
        }

        // An edited record (a faster "measured" restore) fails its HMAC and is ignored with a warning.
        File.WriteAllText(record, File.ReadAllText(record).Replace("\"duration\": \"", "\"duration\": \"0", StringComparison.Ordinal));
        using (var repo = await BackupRepository.OpenAsync(_repoDir.Path, create: false, default, KeyFile()))
        {
            var status = Assert.Single(await BackupStatusCollector.CollectAsync(repo, new StatusOptions { Database = db }, Context));
            Assert.Null(status.LastTestRestore);
            Assert.Equal(PgObjectiveStatus.Unknown, status.Objectives.Single(o => o.Objective == ObjectiveTargets.RtoName).Status);
            Assert.Contains(_warnings, w => w.Contains("fails authentication", StringComparison.Ordinal));
        }
    }
}
