using System.Diagnostics;
using PgBackupTools.Core.Errors;
using PgBackupTools.Core.Storage;
using PgBackupTools.Core.Wal;
using PgBackupTools.TestKit;

namespace PgBackupTools.Core.Tests.Wal;

/// <summary>Who the server's OS user is (the owner of a real cluster's data directory) and whether it can write a repository.</summary>
[Collection("cluster")]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")] // uids, modes, chown: the test clusters are Linux-only
public sealed class ArchiveRepositoryAccessTests(ClusterFixture fixture) : IDisposable
{
    private readonly TempDirectory _temp = new();

    [Fact]
    public async Task The_server_user_is_the_owner_of_the_data_directory_as_stat_reports_it()
    {
        var user = await ArchiveRepositoryAccess.FindServerUserAsync(fixture.Connection(), _temp.Path, CancellationToken.None);
        Assert.NotNull(user);
        var stat = Program("stat", "-c", "%u %g %U", fixture.Cluster.DataDirectory).Split(' ');
        Assert.Equal(uint.Parse(stat[0]), user.Uid);
        Assert.Equal(uint.Parse(stat[1]), user.Gid);
        Assert.Equal(stat[2], user.Name);
        Assert.Equal(Path.GetFullPath(fixture.Cluster.DataDirectory), Path.GetFullPath(user.DataDirectory));
        if (UnixFileOwner.IsRoot) Assert.Equal("postgres", user.Name);
    }

    [Fact]
    public async Task The_server_user_is_unknown_for_a_cloud_repository_a_missing_data_directory_or_another_clusters()
    {
        Assert.Null(await ArchiveRepositoryAccess.FindServerUserAsync(fixture.Connection(), "s3://bucket/prefix", CancellationToken.None));
        Assert.Null(await ArchiveRepositoryAccess.FindServerUserAsync(fixture.Connection(), "az://account/container", CancellationToken.None));
        Assert.Null(ArchiveRepositoryAccess.ForDataDirectory(Path.Combine(_temp.Path, "not-here"), "1"));
        // The same path on this host holding another cluster (the server is remote) says nothing about the server's user.
        Assert.Null(ArchiveRepositoryAccess.ForDataDirectory(fixture.Cluster.DataDirectory, "12345"));
        string id = fixture.Cluster.Psql("SELECT system_identifier FROM pg_control_system()");
        Assert.NotNull(ArchiveRepositoryAccess.ForDataDirectory(fixture.Cluster.DataDirectory, id));
    }

    [Fact]
    public async Task A_directory_owned_by_root_with_mode_0755_is_refused_with_the_fix_and_writable_once_given_to_the_server_user()
    {
        if (!UnixFileOwner.IsRoot) return; // needs root (as CI runs): the directory must belong to someone else than the server's user
        var user = (await ArchiveRepositoryAccess.FindServerUserAsync(fixture.Connection(), _temp.Path, CancellationToken.None))!;
        string repo = Path.Combine(_temp.Path, "repo");
        Directory.CreateDirectory(Path.Combine(repo, "wal", "main"));
        File.SetUnixFileMode(repo, (UnixFileMode)0b111_101_101);
        File.SetUnixFileMode(Path.Combine(repo, "wal", "main"), (UnixFileMode)0b111_101_101);
        File.SetUnixFileMode(_temp.Path, (UnixFileMode)0b111_101_101);

        Assert.False(ArchiveRepositoryAccess.CanWrite(user, repo));
        Assert.False(ArchiveRepositoryAccess.CanWriteByMode(user, repo));
        var refused = Assert.Throws<PgBackupException>(() => ArchiveRepositoryAccess.EnsureWritable(user, repo, "main"));
        Assert.Equal(FailureKind.PermissionDenied, refused.Kind);
        Assert.Contains(repo, refused.Message);
        Assert.Contains($"chown -R {user.Name}: {repo}", refused.Message);

        // Everyone may write the root now, but wal/main still belongs to root: that one is named.
        File.SetUnixFileMode(repo, (UnixFileMode)0b111_111_111);
        Assert.True(ArchiveRepositoryAccess.CanWrite(user, repo));
        Assert.True(ArchiveRepositoryAccess.CanWriteByMode(user, repo));
        refused = Assert.Throws<PgBackupException>(() => ArchiveRepositoryAccess.EnsureWritable(user, repo, "main"));
        Assert.Equal(Path.Combine(repo, "wal", "main"), refused.Target);

        Assert.Equal(repo, ArchiveRepositoryAccess.HandOver(user, repo, directoryIsNew: true));
        Assert.Equal((user.Uid, user.Gid), UnixFileOwner.Of(Path.Combine(repo, "wal", "main")));
        ArchiveRepositoryAccess.EnsureWritable(user, repo, "main");
        Assert.True(ArchiveRepositoryAccess.CanWriteByMode(user, Path.Combine(repo, "wal", "main")));

        // A timeline directory a root session made (a manual Send-PgWalSegment) would fail every push on that timeline.
        string timeline = Path.Combine(repo, "wal", "main", "00000001");
        Directory.CreateDirectory(timeline);
        File.SetUnixFileMode(timeline, (UnixFileMode)0b111_101_101);
        refused = Assert.Throws<PgBackupException>(() => ArchiveRepositoryAccess.EnsureWritable(user, repo, "main"));
        Assert.Equal(timeline, refused.Target);
        ArchiveRepositoryAccess.HandOver(user, repo, directoryIsNew: true);
        ArchiveRepositoryAccess.EnsureWritable(user, repo, "main");

        // A parent the user cannot search hides a directory it owns.
        File.SetUnixFileMode(_temp.Path, (UnixFileMode)0b111_000_000);
        Assert.False(ArchiveRepositoryAccess.CanWrite(user, repo));
        Assert.False(ArchiveRepositoryAccess.CanWriteByMode(user, repo));
        Assert.Equal(_temp.Path, ArchiveRepositoryAccess.FirstClosedParent(user, Path.Combine(repo, "wal", "main")));
        refused = Assert.Throws<PgBackupException>(() => ArchiveRepositoryAccess.EnsureWritable(user, repo, "main"));
        Assert.Equal(_temp.Path, refused.Target);
        Assert.Contains($"cannot reach {repo}: it may not enter {_temp.Path}", refused.Message);
        Assert.Contains($"chmod o+x {_temp.Path}", refused.Message);
        File.SetUnixFileMode(_temp.Path, (UnixFileMode)0b111_101_101);
        Assert.Null(ArchiveRepositoryAccess.FirstClosedParent(user, repo));
    }

    [Fact]
    public async Task In_a_directory_that_was_there_before_only_the_repository_file_is_given_to_the_server_user()
    {
        if (!UnixFileOwner.IsRoot) return; // needs root (as CI runs): chown
        var user = (await ArchiveRepositoryAccess.FindServerUserAsync(fixture.Connection(), _temp.Path, CancellationToken.None))!;
        string dir = Path.Combine(_temp.Path, "shared");
        Directory.CreateDirectory(Path.Combine(dir, "other"));
        File.WriteAllText(Path.Combine(dir, "other", "notes.txt"), "not the repository's");
        await PgBackupTools.Core.Repository.BackupRepository.OpenAsync(dir, create: true, CancellationToken.None);

        Assert.Equal(Path.Combine(dir, "repository.json"), ArchiveRepositoryAccess.HandOver(user, dir, directoryIsNew: false));
        Assert.Equal((user.Uid, user.Gid), UnixFileOwner.Of(Path.Combine(dir, "repository.json")));
        Assert.Equal((0u, 0u), UnixFileOwner.Of(dir));
        Assert.Equal((0u, 0u), UnixFileOwner.Of(Path.Combine(dir, "other", "notes.txt")));
    }

    private static string Program(string name, params string[] args)
    {
        var psi = new ProcessStartInfo(name) { RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        string output = p.StandardOutput.ReadToEnd().Trim();
        p.WaitForExit();
        return output;
    }

    public void Dispose() => _temp.Dispose();
}
