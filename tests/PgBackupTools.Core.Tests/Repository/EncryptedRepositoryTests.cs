using System.Security.Cryptography;
using System.Text;
using PgBackupTools.Core.Backup;
using PgBackupTools.Core.Errors;
using PgBackupTools.Core.Repository;
using PgBackupTools.Core.Restore;
using PgBackupTools.Core.Streams;
using PgBackupTools.Core.Streams.Encryption;
using PgBackupTools.Core.Tests.Backup;
using PgBackupTools.Core.Verify;

namespace PgBackupTools.Core.Tests.Repository;

/// <summary>An encrypted repository end to end against a real cluster: back up, restore, test, and refuse what must be refused.</summary>
[Collection("cluster")]
public sealed class EncryptedRepositoryTests(ClusterFixture fixture) : IDisposable
{
    private const string Passphrase = "correct horse battery staple 7f3a";
    private readonly TempDirectory _repoDir = new();
    private readonly TempDirectory _keys = new();
    private readonly OperationContext _context = new();

    public void Dispose()
    {
        _repoDir.Dispose();
        _keys.Dispose();
    }

    private PassphraseSource KeyFile(string passphrase)
    {
        string path = Path.Combine(_keys.Path, Guid.NewGuid().ToString("N"));
        File.WriteAllText(path, passphrase + "\n");
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        return PassphraseSource.FromKeyFile(path);
    }

    private Task<BackupRepository> Repo(string? passphrase = Passphrase, bool create = true) =>
        BackupRepository.OpenAsync(_repoDir.Path, create, default, passphrase is null ? null : KeyFile(passphrase));

    private async Task<PgBackup> BackupAsync(string db, DumpFormat format = DumpFormat.Plain, CompressionKind compression = CompressionKind.Zstd)
    {
        using var repo = await Repo();
        return await LogicalBackupJob.RunAsync(repo, fixture.Connection(), new LogicalBackupOptions { Database = db, Format = format, Compression = compression }, _context);
    }

    private string StoredPath(PgBackup b, string file) => Path.Combine(_repoDir.Path, "backups", b.Stanza, b.Id, file);

    private SortedDictionary<string, string> Snapshot() => new(
        Directory.EnumerateFileSystemEntries(_repoDir.Path, "*", SearchOption.AllDirectories)
            .ToDictionary(p => Path.GetRelativePath(_repoDir.Path, p),
                p => File.Exists(p) ? Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(p))) : "dir"),
        StringComparer.Ordinal);

    [Theory]
    [InlineData(DumpFormat.Plain, CompressionKind.Zstd)]
    [InlineData(DumpFormat.Custom, CompressionKind.Gzip)]
    public async Task An_encrypted_backup_restores_to_an_equal_database_and_passes_its_test_restore(DumpFormat format, CompressionKind compression)
    {
        var db = fixture.CreateAuditDatabase();
        var backup = await BackupAsync(db, format, compression);

        var file = backup.Files.Single();
        Assert.True(file.Encrypted);
        Assert.EndsWith(".enc", file.Name);
        Assert.Equal("aes-256-gcm", backup.Encryption);
        Assert.True(EncryptedFile.IsEncrypted(StoredPath(backup, file.Name)));
        Assert.True(File.Exists(StoredPath(backup, BackupRepository.ManifestHmacName)));

        using var repo = await Repo(create: false);
        Assert.Equal(repo.Key!.KeyId, backup.EncryptionKeyId);
        var target = db + "_restored";
        await LogicalRestoreJob.RunAsync(repo, backup, fixture.Connection(), new LogicalRestoreOptions { TargetDatabase = target }, _context);
        Assert.Equal(DatabaseFingerprint.Of(fixture.Cluster, db), DatabaseFingerprint.Of(fixture.Cluster, target));

        var test = await BackupTestJob.RunAsync(repo, backup, fixture.Connection(), restore: true, [], _context);
        Assert.True(test.Passed, test.Error);
        Assert.Contains(test.Checks, c => c.Kind == "RowCount" && c.Name == "public.audit_events" && c.Actual == "2000");
    }

    [Fact]
    public async Task A_wrong_passphrase_is_refused_and_the_repository_is_byte_for_byte_unchanged()
    {
        var db = fixture.CreateAuditDatabase(rows: 100);
        await BackupAsync(db);
        var before = Snapshot();

        var e = await Assert.ThrowsAsync<WrongPassphraseException>(() => Repo("wrong-pass-91c2"));
        Assert.Contains("does not match", e.Message);
        Assert.Contains("Nothing was read or written", e.Message);
        Assert.DoesNotContain("wrong-pass-91c2", e.Message);
        Assert.Equal(before, Snapshot());
    }

    [Fact]
    public async Task No_passphrase_for_an_encrypted_repository_is_a_clear_error_but_listing_works()
    {
        var db = fixture.CreateAuditDatabase(rows: 100);
        var backup = await BackupAsync(db);

        var e = await Assert.ThrowsAsync<PgBackupException>(() => Repo(passphrase: null, create: false));
        Assert.Equal(FailureKind.InvalidArgument, e.Kind);
        Assert.Contains("encrypted", e.Message);
        Assert.Contains("-Passphrase", e.Message);
        Assert.Contains(RepositoryPassphrase.DefaultVariable, e.Message);

        using var listing = await BackupRepository.OpenAsync(_repoDir.Path, create: false, default, passphrase: null, keyRequired: false);
        Assert.Equal([backup.Id], (await listing.ListBackupsAsync(null, _context)).Select(b => b.Id));
        await Assert.ThrowsAsync<PgBackupException>(() =>
            LogicalRestoreJob.RunAsync(listing, backup, fixture.Connection(), new LogicalRestoreOptions { TargetDatabase = db + "_nokey" }, _context));
    }

    [Fact]
    public async Task A_passphrase_for_an_unencrypted_repository_is_an_error_not_ignored()
    {
        using (await Repo(passphrase: null)) { }
        var e = await Assert.ThrowsAsync<PgBackupException>(() => Repo());
        Assert.Contains("not encrypted", e.Message);
        Assert.DoesNotContain(Passphrase, e.Message);
    }

    [Theory]
    [InlineData("middle")]
    [InlineData("header")] // the encryption header: format version, chunk size, key id, nonce
    [InlineData("last")] // the final chunk's tag
    public async Task A_flipped_byte_in_an_encrypted_file_fails_the_test_and_the_restore_naming_the_file(string where)
    {
        var db = fixture.CreateAuditDatabase();
        var backup = await BackupAsync(db);
        string name = backup.Files.Single().Name;
        var path = StoredPath(backup, name);
        var bytes = await File.ReadAllBytesAsync(path);
        bytes[where switch { "header" => 9, "last" => bytes.Length - 1, _ => bytes.Length / 2 }] ^= 0x01;
        await File.WriteAllBytesAsync(path, bytes);

        using var repo = await Repo(create: false);
        var test = await BackupTestJob.RunAsync(repo, backup, fixture.Connection(), restore: true, [], _context);
        Assert.False(test.Passed);
        Assert.Contains(name, test.Error);
        var e = await Assert.ThrowsAsync<ChecksumMismatchException>(() =>
            LogicalRestoreJob.RunAsync(repo, backup, fixture.Connection(), new LogicalRestoreOptions { TargetDatabase = db + "_damaged" }, _context));
        Assert.Contains(name, e.Message);
        Assert.Equal("", fixture.Cluster.Psql($"SELECT datname FROM pg_database WHERE datname = '{db}_damaged' OR datname LIKE 'pgbt_%'"));
    }

    [Fact]
    public async Task An_edited_manifest_fails_authentication_even_when_its_checksums_are_consistent()
    {
        var db = fixture.CreateAuditDatabase(rows: 100);
        var backup = await BackupAsync(db);
        var manifest = StoredPath(backup, BackupRepository.ManifestName);
        var json = await File.ReadAllTextAsync(manifest);
        await File.WriteAllTextAsync(manifest, json.Replace("\"public.audit_events\": 100", "\"public.audit_events\": 101"));

        using var repo = await Repo(create: false);
        var e = await Assert.ThrowsAsync<PgBackupException>(() => BackupTestJob.RunAsync(repo, backup, fixture.Connection(), restore: false, [], _context));
        Assert.Equal(FailureKind.InvalidData, e.Kind);
        Assert.Contains("fails authentication", e.Message);
    }

    [Fact]
    public async Task Neither_the_manifest_nor_repository_json_holds_the_passphrase_or_key_bytes()
    {
        var db = fixture.CreateAuditDatabase(rows: 100);
        var backup = await BackupAsync(db);
        using var repo = await Repo(create: false);
        var parameters = repo.Encryption!;
        byte[] master = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(Passphrase), Convert.FromBase64String(parameters.Salt), parameters.Iterations, HashAlgorithmName.SHA256, 32);

        var repositoryJson = await File.ReadAllTextAsync(Path.Combine(_repoDir.Path, BackupRepository.InfoKey));
        Assert.Contains("\"encryption\"", repositoryJson);
        Assert.Contains("keyCheck", repositoryJson);
        foreach (var text in new[] { repositoryJson, await File.ReadAllTextAsync(StoredPath(backup, BackupRepository.ManifestName)) })
        {
            Assert.DoesNotContain(Passphrase, text);
            Assert.DoesNotContain(Convert.ToBase64String(master), text);
            Assert.DoesNotContain(Convert.ToHexString(master), text, StringComparison.OrdinalIgnoreCase);
        }
        // and the key really was that: the stored dump decrypts with it
        var reopened = RepositoryEncryption.FromJson(parameters.ToJson());
        using var key = reopened.Unlock(Encoding.UTF8.GetBytes(Passphrase));
        Assert.Equal(parameters.KeyId, key.KeyId);
    }

    [Fact]
    public async Task Directory_format_and_parallel_restore_are_refused_in_an_encrypted_repository()
    {
        var db = fixture.CreateAuditDatabase(rows: 100);
        using (await Repo()) { }
        var before = Snapshot();
        var e = await Assert.ThrowsAsync<PgBackupException>(() => BackupAsync(db, DumpFormat.Directory, CompressionKind.Gzip));
        Assert.Contains("encrypted", e.Message);
        Assert.Equal(before, Snapshot());

        var backup = await BackupAsync(db, DumpFormat.Custom, CompressionKind.Gzip);
        using var repo = await Repo(create: false);
        var jobs = await Assert.ThrowsAsync<PgBackupException>(() =>
            LogicalRestoreJob.RunAsync(repo, backup, fixture.Connection(), new LogicalRestoreOptions { TargetDatabase = db + "_j", Jobs = 2 }, _context));
        Assert.Contains("one job", jobs.Message);
    }
}
