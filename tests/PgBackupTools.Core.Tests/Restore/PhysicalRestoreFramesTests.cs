using Npgsql;
using PgBackupTools.Core.Backup;
using PgBackupTools.Core.Errors;
using PgBackupTools.Core.Postgres;
using PgBackupTools.Core.Repository;
using PgBackupTools.Core.Restore;
using PgBackupTools.Core.Streams;
using PgBackupTools.Core.Tests.Streams;
using PgBackupTools.Core.Tests.Wal;
using PgBackupTools.Core.Wal;
using PgBackupTools.TestKit;

namespace PgBackupTools.Core.Tests.Restore;

/// <summary>
/// Physical backups stored as independent zstd frames, against a real cluster: the zstd CLI extracts the stored tar,
/// a backup in the old one-frame layout still restores, and a damaged stored file fails the restore naming the file,
/// with no recovery.signal written.
/// </summary>
[Collection("cluster")]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")] // runuser, chown: the test clusters are Linux-only
public sealed class PhysicalRestoreFramesTests : IDisposable
{
    private readonly TempDirectory _temp = new();
    private readonly List<string> _started = [];
    private string RepoPath => Path.Combine(_temp.Path, "repo");

    [Fact]
    public async Task A_framed_backup_is_a_tar_the_zstd_cli_extracts_and_an_old_one_frame_backup_still_restores()
    {
        using var cluster = await StartArchivingClusterAsync();
        cluster.Psql("CREATE TABLE t(id int); INSERT INTO t SELECT generate_series(1, 100000)");
        var backup = await BackupAsync(cluster);
        var file = Assert.Single(backup.Files);
        string stored = StoredPath(backup, file);

        // Many frames, each cut from its header; `zstd -dc base.tar.zst | tar x` is what a user without us runs.
        Cli.Run("/usr/bin/zstd", "-t", stored);
        string extracted = Path.Combine(_temp.Path, "cli-tar");
        Directory.CreateDirectory(extracted);
        Cli.Run("/bin/sh", "-c", $"/usr/bin/zstd -dc '{stored}' | tar -x -C '{extracted}'");
        Assert.True(File.Exists(Path.Combine(extracted, "PG_VERSION")));
        await using (var decoder = new ZstdFrameDecompressor(File.OpenRead(stored), leaveOpen: false))
        {
            await decoder.CopyToAsync(Stream.Null);
            Assert.False(decoder.Streaming);
            Assert.True(decoder.FramesDecoded > 1, $"{decoder.FramesDecoded} frame(s) for {file.Bytes:N0} bytes");
        }

        // Rewrite it as backups were stored before frames: one multithreaded frame without a content size.
        string legacy = stored + ".legacy";
        await using (var input = Compression.CreateDecompressor(File.OpenRead(stored), CompressionKind.Zstd))
        await using (var output = Compression.CreateCompressor(File.Create(legacy), CompressionKind.Zstd))
            await input.CopyToAsync(output);
        File.Move(legacy, stored, overwrite: true);
        var storedHash = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(stored)));
        Assert.NotEqual(file.StoredSha256, storedHash);
        file.StoredSha256 = storedHash;
        file.StoredBytes = new FileInfo(stored).Length;
        File.Delete(Path.Combine(RepoPath, "backups", backup.Stanza, backup.Id, "manifest.json"));
        using (var repo = await BackupRepository.OpenAsync(RepoPath, create: false, CancellationToken.None))
            await repo.WriteManifestAsync(backup, CancellationToken.None);

        using (var repo = await BackupRepository.OpenAsync(RepoPath, create: false, CancellationToken.None))
        {
            var result = await PhysicalRestoreJob.RunAsync(repo, backup, Options(Path.Combine(_temp.Path, "legacy")) with { Immediate = true }, OperationContext.None);
            Assert.Equal(file.Bytes, result.RestoredBytes);
            Assert.Equal("100000", PsqlAt(result.Port!.Value, "SELECT count(*) FROM t"));
        }
    }

    [Fact]
    public async Task A_flipped_byte_in_the_stored_frames_fails_the_restore_naming_the_file_and_writes_no_recovery_signal()
    {
        using var cluster = await StartArchivingClusterAsync();
        var backup = await BackupAsync(cluster);
        var file = Assert.Single(backup.Files);
        string stored = StoredPath(backup, file);
        using (var handle = File.Open(stored, FileMode.Open, FileAccess.ReadWrite))
        {
            handle.Position = handle.Length / 2;
            int b = handle.ReadByte();
            handle.Position = handle.Length / 2;
            handle.WriteByte((byte)(b ^ 0x5A));
        }

        string target = Path.Combine(_temp.Path, "damaged");
        using var repo = await BackupRepository.OpenAsync(RepoPath, create: false, CancellationToken.None);
        var e = await Assert.ThrowsAsync<ChecksumMismatchException>(() =>
            PhysicalRestoreJob.RunAsync(repo, backup, Options(target) with { Immediate = true, Start = false }, OperationContext.None));
        Assert.Contains(file.Name, e.Message);
        Assert.Contains(backup.Id, e.File);
        Assert.False(File.Exists(Path.Combine(target, "recovery.signal")));
    }

    [Fact]
    public async Task A_file_copy_tar_whose_file_differs_from_its_backup_manifest_fails_the_restore_naming_the_file()
    {
        using var cluster = await StartArchivingClusterAsync();
        var backup = await BackupAsync(cluster);
        Assert.Equal(PhysicalBackupMethod.FileCopy, backup.Method);
        var file = Assert.Single(backup.Files);
        Assert.Null(file.Sha256); // each file's SHA-256 is in the tar's backup_manifest instead
        string stored = StoredPath(backup, file);

        // Damage that happened before compression (a bad disk read, a bug): the stored bytes then match the catalog.
        string unpacked = Path.Combine(_temp.Path, "unpacked");
        Directory.CreateDirectory(unpacked);
        Cli.Run("/bin/sh", "-c", $"/usr/bin/zstd -dc '{stored}' | tar -x -C '{unpacked}'");
        string version = File.ReadAllText(Path.Combine(unpacked, "PG_VERSION"));
        File.WriteAllText(Path.Combine(unpacked, "PG_VERSION"), version.Replace('1', '9'));
        Cli.Run("/bin/sh", "-c", $"tar -c -C '{unpacked}' . | /usr/bin/zstd -q -f -o '{stored}'");
        file.StoredSha256 = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(stored)));
        file.StoredBytes = new FileInfo(stored).Length;
        File.Delete(Path.Combine(RepoPath, "backups", backup.Stanza, backup.Id, "manifest.json"));
        using var repo = await BackupRepository.OpenAsync(RepoPath, create: false, CancellationToken.None);
        await repo.WriteManifestAsync(backup, CancellationToken.None);

        string target = Path.Combine(_temp.Path, "mismatch");
        var e = await Assert.ThrowsAsync<PgBackupException>(() =>
            PhysicalRestoreJob.RunAsync(repo, backup, Options(target) with { Immediate = true, Start = false }, OperationContext.None));
        Assert.Equal(FailureKind.InvalidData, e.Kind);
        Assert.Contains("'PG_VERSION'", e.Message);
        Assert.Contains(backup.Id, e.Message);
        Assert.False(File.Exists(Path.Combine(target, "recovery.signal")));
    }

    // ------------------------------------------------------------------ helpers

    private string StoredPath(PgBackup backup, PgBackupFile file)
    {
        Assert.Equal("base.tar.zst", file.Name);
        return Path.Combine(RepoPath, "backups", backup.Stanza, backup.Id, file.Name);
    }

    private PhysicalRestoreOptions Options(string dir)
    {
        _started.Add(dir);
        return ArchivingCluster.StartedRestore(dir);
    }

    private Task<PgTestCluster> StartArchivingClusterAsync() => ArchivingCluster.StartAsync(RepoPath, _temp.Path);

    private Task<PgBackup> BackupAsync(PgTestCluster cluster) => ArchivingCluster.BackupAsync(RepoPath, cluster);

    private static string PsqlAt(int port, string sql) => ArchivingCluster.PsqlAt(port, sql);

    public void Dispose()
    {
        ArchivingCluster.StopRestored(_started);
        _temp.Dispose();
    }
}
