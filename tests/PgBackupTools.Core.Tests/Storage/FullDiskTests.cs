using System.Diagnostics;
using PgBackupTools.Core.Backup;
using PgBackupTools.Core.Repository;
using PgBackupTools.Core.Restore;
using PgBackupTools.Core.Tests.Restore;
using PgBackupTools.Core.Tests.Wal;
using PgBackupTools.Core.Verify;
using PgBackupTools.Core.Wal;

namespace PgBackupTools.Core.Tests.Storage;

/// <summary>
/// A repository (or a restore_command destination) on a real file system that fills up: a small tmpfs, filled to the
/// last byte by a filler file. Nothing half-written may be listed, archived or handed to PostgreSQL, and once space is
/// freed the same operation succeeds.
/// </summary>
[Collection("cluster")]
public sealed class FullDiskTests(ClusterFixture fixture) : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task A_backup_into_a_full_repository_fails_clearly_lists_nothing_leaves_no_temp_file_and_the_next_one_succeeds()
    {
        using var disk = SmallDisk.Mount(_temp.Path, "repo-disk");
        string root = Path.Combine(disk.Path, "repo");
        var db = fixture.CreateAuditDatabase(rows: 3000);
        using var repo = await BackupRepository.OpenAsync(root, create: true, default);
        disk.Fill();

        var error = await Assert.ThrowsAnyAsync<Exception>(() =>
            LogicalBackupJob.RunAsync(repo, fixture.Connection(), new LogicalBackupOptions { Database = db, Format = DumpFormat.Custom }, OperationContext.None));
        Assert.Contains("space", error.Message, StringComparison.OrdinalIgnoreCase);
        Assert.Empty(await repo.ListBackupsAsync(null, OperationContext.None));
        Assert.Equal(["repository.json"], FilesUnder(root));

        disk.Free();
        var backup = await LogicalBackupJob.RunAsync(repo, fixture.Connection(), new LogicalBackupOptions { Database = db, Format = DumpFormat.Custom }, OperationContext.None);
        Assert.Equal([backup.Id], (await repo.ListBackupsAsync(null, OperationContext.None)).Select(b => b.Id));
        Assert.True((await BackupTestJob.RunAsync(repo, backup, fixture.Connection(), restore: false, [], OperationContext.None)).Passed);
    }

    [Fact]
    public async Task A_WAL_push_into_a_full_repository_archives_nothing_under_the_name_and_the_retry_stores_the_same_bytes()
    {
        using var disk = SmallDisk.Mount(_temp.Path, "wal-disk");
        string root = Path.Combine(disk.Path, "repo");
        var paths = WalTestSegments.CopyCompleted(fixture.Cluster, _temp.Path, 2);
        using var repo = await BackupRepository.OpenAsync(root, create: true, default);
        var archive = new WalArchive(repo, "main");
        await archive.PushAsync(paths[0], new WalPushOptions(), OperationContext.None);
        disk.Fill();

        string name = Path.GetFileName(paths[1]);
        await Assert.ThrowsAnyAsync<Exception>(() => archive.PushAsync(paths[1], new WalPushOptions(), OperationContext.None));
        Assert.False(await archive.ContainsAsync(name, default));
        Assert.DoesNotContain(FilesUnder(root), f => f.Contains(name, StringComparison.Ordinal));

        disk.Free();
        var pushed = await archive.PushAsync(paths[1], new WalPushOptions(), OperationContext.None);
        Assert.False(pushed.AlreadyArchived);
        string fetched = Path.Combine(_temp.Path, "fetched");
        Assert.NotNull(await archive.GetAsync(name, fetched, new WalGetOptions(), OperationContext.None));
        Assert.Equal(await File.ReadAllBytesAsync(paths[1]), await File.ReadAllBytesAsync(fetched));
    }

    [Fact]
    public async Task Restore_command_into_a_full_pg_wal_fails_and_leaves_no_destination_or_temp_file_for_PostgreSQL_to_read()
    {
        var paths = WalTestSegments.CopyCompleted(fixture.Cluster, _temp.Path, 1);
        string root = Path.Combine(_temp.Path, "repo");
        using (var repo = await BackupRepository.OpenAsync(root, create: true, default))
            await new WalArchive(repo, "main").PushAsync(paths[0], new WalPushOptions(), OperationContext.None);
        using var disk = SmallDisk.Mount(_temp.Path, "pg_wal", megabytes: 40); // room for one 16 MiB segment once freed
        disk.Fill();
        string name = Path.GetFileName(paths[0]);
        string destination = Path.Combine(disk.Path, "RECOVERYXLOG");

        var (code, stderr) = WalTestSegments.RunEntryPoint("get", name, destination, "--repo", root);
        Assert.NotEqual(0, code);
        Assert.NotEqual(1, code); // 1 would tell PostgreSQL the file is not archived: recovery would end early there
        Assert.Contains("space", stderr, StringComparison.OrdinalIgnoreCase);
        Assert.Equal([SmallDisk.FillerName], Directory.GetFiles(disk.Path).Select(Path.GetFileName));

        disk.Free();
        Assert.Equal(0, WalTestSegments.RunEntryPoint("get", name, destination, "--repo", root).Code);
        Assert.Equal(await File.ReadAllBytesAsync(paths[0]), await File.ReadAllBytesAsync(destination));
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task A_physical_restore_onto_a_disk_that_fills_up_fails_naming_the_cause_leaves_nothing_startable_and_succeeds_once_there_is_room()
    {
        string repoPath = Path.Combine(_temp.Path, "physical-repo");
        using var cluster = await ArchivingCluster.StartAsync(repoPath, _temp.Path);
        cluster.Psql("CREATE TABLE t(id int); INSERT INTO t SELECT generate_series(1, 1000)");
        var backup = await ArchivingCluster.BackupAsync(repoPath, cluster);
        using var repo = await BackupRepository.OpenAsync(repoPath, create: false, default);
        using var disk = SmallDisk.Mount(_temp.Path, "restore-disk", megabytes: 8); // the data directory is several times that
        string target = Path.Combine(disk.Path, "data");
        try
        {
            var e = await Assert.ThrowsAnyAsync<Exception>(() =>
                PhysicalRestoreJob.RunAsync(repo, backup, ArchivingCluster.StartedRestore(target) with { Immediate = true }, OperationContext.None));
            Assert.Contains("space", e.Message, StringComparison.OrdinalIgnoreCase);
            // Nothing a server could start from: no recovery.signal, and pg_control (the tar's last file) was never reached.
            Assert.False(File.Exists(Path.Combine(target, "recovery.signal")));
            Assert.False(File.Exists(Path.Combine(target, "global", "pg_control")));

            disk.Resize(megabytes: 512);
            var result = await PhysicalRestoreJob.RunAsync(repo, backup, ArchivingCluster.StartedRestore(target) with { Immediate = true, Force = true }, OperationContext.None);
            Assert.NotNull(result.MovedAsideTo); // the partial directory, kept aside rather than deleted
            Assert.Equal("1000", ArchivingCluster.PsqlAt(result.Port!.Value, "SELECT count(*) FROM t"));
        }
        finally
        {
            ArchivingCluster.StopRestored([target]);
        }
    }

    private static List<string> FilesUnder(string root) =>
        Directory.GetFiles(root, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(root, f)).Order(StringComparer.Ordinal).ToList();
}

/// <summary>A small tmpfs that <see cref="Fill"/> fills to the last byte and <see cref="Free"/> empties again (needs root, as the cluster tests do).</summary>
internal sealed class SmallDisk : IDisposable
{
    public const string FillerName = "filler";
    public string Path { get; }

    private SmallDisk(string path) => Path = path;

    public static SmallDisk Mount(string parent, string name, int megabytes = 4)
    {
        Assert.True(OperatingSystem.IsLinux() && Environment.IsPrivilegedProcess, "A full disk is made by mounting a small tmpfs, which needs root on Linux.");
        string path = System.IO.Path.Combine(parent, name);
        Directory.CreateDirectory(path);
        Run("mount", "-t", "tmpfs", "-o", $"size={megabytes}m,mode=0777", "tmpfs", path);
        return new SmallDisk(path);
    }

    /// <summary>Writes a file until the file system says it has no space left.</summary>
    public void Fill()
    {
        var block = new byte[4096];
        Array.Fill(block, (byte)0x5a);
        using var filler = new FileStream(System.IO.Path.Combine(Path, FillerName), FileMode.Create, FileAccess.Write, FileShare.None, 1);
        try
        {
            while (true) filler.Write(block);
        }
        catch (IOException)
        {
            // ENOSPC: the disk is full.
        }
    }

    public void Resize(int megabytes) => Run("mount", "-o", $"remount,size={megabytes}m", Path);

    public void Free() => File.Delete(System.IO.Path.Combine(Path, FillerName));

    public void Dispose() => Run("umount", "-l", Path);

    private static void Run(string command, params string[] arguments)
    {
        using var process = Process.Start(new ProcessStartInfo(command, arguments) { RedirectStandardError = true })!;
        string error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"{command} {string.Join(' ', arguments)}: {error}");
    }
}
