using System.Text.Json;
using PgBackupTools.Core.Backup;
using PgBackupTools.Core.Repository;
using PgBackupTools.Core.Retention;

namespace PgBackupTools.Core.Tests.Repository;

/// <summary>A byte flipped in an unencrypted manifest.json is caught like one in a data file: the backup is not listed as good.</summary>
[Collection("cluster")]
public sealed class ManifestChecksumTests(ClusterFixture fixture) : IDisposable
{
    private readonly TempDirectory _repoDir = new();

    public void Dispose() => _repoDir.Dispose();

    [Fact]
    public async Task A_flipped_byte_in_a_manifest_hides_the_backup_with_a_warning_that_names_it_and_retention_keeps_what_it_kept()
    {
        var db = fixture.CreateAuditDatabase(rows: 2000);
        using var repo = await BackupRepository.OpenAsync(_repoDir.Path, create: true, default);
        var older = await LogicalBackupJob.RunAsync(repo, fixture.Connection(), new LogicalBackupOptions { Database = db }, OperationContext.None);
        var newer = await LogicalBackupJob.RunAsync(repo, fixture.Connection(), new LogicalBackupOptions { Database = db }, OperationContext.None);

        // Bit rot in the older manifest: its year moves ten years ahead, which would make it the 'newest' backup that
        // a KeepLast 1 policy keeps while it removes the real newest one.
        string path = Path.Combine(_repoDir.Path, "backups", older.Stanza, older.Id, BackupRepository.ManifestName);
        byte[] bytes = await File.ReadAllBytesAsync(path);
        string startTime = "\"startTime\": \"" + older.StartTime.UtcDateTime.ToString("yyyy");
        int at = System.Text.Encoding.ASCII.GetString(bytes).IndexOf(startTime, StringComparison.Ordinal) + startTime.Length - 2;
        bytes[at] = (byte)(bytes[at] == (byte)'9' ? '0' : bytes[at] + 1);
        await File.WriteAllBytesAsync(path, bytes);
        using (var parsed = JsonDocument.Parse(bytes)) Assert.NotEqual(older.StartTime, parsed.RootElement.GetProperty("startTime").GetDateTimeOffset());

        var warnings = new List<string>();
        var listed = await repo.ListBackupsAsync(null, new OperationContext { Warning = warnings.Add });
        Assert.Equal([newer.Id], listed.Select(b => b.Id));
        Assert.Contains(warnings, w => w.Contains(older.Id) && w.Contains("checksum"));
        await Assert.ThrowsAsync<JsonException>(() => repo.GetBackupAsync(older.Stanza, older.Id, default));

        // The policy sees only the readable backup, so nothing is removed: the newest stays, and the damaged one is not
        // deleted behind the operator's back either.
        var plan = RetentionPlanner.Plan(listed, new RetentionPolicy { KeepLast = 1 }, DateTimeOffset.UtcNow);
        Assert.All(plan, d => Assert.True(d.Keep));
    }

    [Fact]
    public async Task A_manifest_written_before_manifests_carried_a_checksum_is_still_read()
    {
        using var repo = await BackupRepository.OpenAsync(_repoDir.Path, create: true, default);
        var backup = new PgBackup { Id = RepositoryNames.NewBackupId(DateTimeOffset.UtcNow), Type = BackupType.Logical, Stanza = "main", Database = "legacy", StartTime = DateTimeOffset.UtcNow };
        byte[] legacy = JsonSerializer.SerializeToUtf8Bytes(backup, new JsonSerializerOptions { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase });
        Assert.StartsWith("{\n  \"manifestVersion\": 1,", System.Text.Encoding.UTF8.GetString(legacy).ReplaceLineEndings("\n"));
        await using (var writer = await repo.Store.CreateAsync(BackupRepository.BackupFileKey("main", backup.Id, BackupRepository.ManifestName), overwrite: false, default))
        {
            await writer.WriteAsync(legacy);
            await writer.CommitAsync(default);
        }
        Assert.Equal("legacy", (await repo.GetBackupAsync("main", backup.Id, default)).Database);

        // And what is written now starts with its checksum, which holds.
        var sealedOne = new PgBackup { Id = RepositoryNames.NewBackupId(DateTimeOffset.UtcNow), Type = BackupType.Logical, Stanza = "main", Database = "sealed", StartTime = DateTimeOffset.UtcNow };
        await repo.WriteManifestAsync(sealedOne, default);
        string text = await File.ReadAllTextAsync(Path.Combine(_repoDir.Path, "backups", "main", sealedOne.Id, BackupRepository.ManifestName));
        Assert.Matches("^\\{\\r?\\n  \"manifestSha256\": \"[0-9a-f]{64}\",\\r?\\n  \"manifestVersion\": 1,", text);
        Assert.Equal("sealed", (await repo.GetBackupAsync("main", sealedOne.Id, default)).Database);
    }
}
