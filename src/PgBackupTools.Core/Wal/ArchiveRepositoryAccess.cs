using System.ComponentModel;
using Npgsql;
using PgBackupTools.Core.Errors;
using PgBackupTools.Core.Postgres;
using PgBackupTools.Core.Repository;
using PgBackupTools.Core.Storage;

namespace PgBackupTools.Core.Wal;

/// <summary>The OS user a PostgreSQL server runs as: the owner of its data directory (the server refuses to start otherwise).</summary>
public sealed record ServerOsUser(string Name, uint Uid, uint Gid, string DataDirectory);

/// <summary>
/// PostgreSQL runs archive_command (pgbt-wal push) as its own OS user, so a local repository it archives into must be
/// writable by that user, which is only visible in the server log when it is not. Enable-PgWalArchiving asks here:
/// who the server's user is (when that can be known from this host), hands a repository it just created to that user
/// when running as root, and refuses a repository that user cannot write before anything is configured.
/// </summary>
public static class ArchiveRepositoryAccess
{
    /// <summary>
    /// The server's OS user, or null when it cannot be known from here: a cloud repository (nothing to own), Windows,
    /// a server whose data directory is not on this host, or settings this role may not read.
    /// </summary>
    public static async Task<ServerOsUser?> FindServerUserAsync(PgConnectionInfo info, string repository, CancellationToken ct)
    {
        if (RepositoryLocation.IsUrl(repository) || OperatingSystem.IsWindows()) return null;
        string dataDirectory, systemIdentifier;
        try
        {
            await using var connection = await PgServer.OpenAsync(info, ct).ConfigureAwait(false);
            await using var cmd = new NpgsqlCommand("SELECT current_setting('data_directory'), (SELECT system_identifier FROM pg_control_system())::text", connection);
            await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            await reader.ReadAsync(ct).ConfigureAwait(false);
            (dataDirectory, systemIdentifier) = (reader.GetString(0), reader.GetString(1));
        }
        catch (PostgresException) { return null; } // e.g. a role without pg_read_all_settings
        return ForDataDirectory(dataDirectory, systemIdentifier);
    }

    /// <summary>The owner of <paramref name="dataDirectory"/> if it is on this host and belongs to the cluster <paramref name="systemIdentifier"/> names.</summary>
    public static ServerOsUser? ForDataDirectory(string dataDirectory, string? systemIdentifier)
    {
        if (!Directory.Exists(dataDirectory)) return null;
        try
        {
            // The same path on this host may be another cluster's (the server is remote): its control file tells.
            if (systemIdentifier is not null && ControlFile.ReadSystemIdentifier(dataDirectory) != systemIdentifier) return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { } // unreadable to this user: that it is there has to do
        if (UnixFileOwner.Of(dataDirectory) is not { } owner) return null;
        return new ServerOsUser(UnixFileOwner.UserName(owner.Uid) ?? owner.Uid.ToString(System.Globalization.CultureInfo.InvariantCulture), owner.Uid, owner.Gid, dataDirectory);
    }

    /// <summary>
    /// As root: gives what this session has just created to the server's user: the whole tree when the directory is new,
    /// only the repository's info file when the directory was there before (what else it holds is not ours to give away).
    /// Returns what was given.
    /// </summary>
    public static string HandOver(ServerOsUser user, string repository, bool directoryIsNew)
    {
        string given = directoryIsNew ? repository : Path.Combine(repository, BackupRepository.InfoKey);
        ProgramRunner.Run("chown", directoryIsNew ? ["-R", $"{user.Uid}:{user.Gid}", given] : [$"{user.Uid}:{user.Gid}", given], TimeSpan.FromMinutes(10));
        return given;
    }

    /// <summary>
    /// Throws when <paramref name="user"/> cannot create files in the repository root, in wal/&lt;stanza&gt; or in one of
    /// its timeline directories (those there already), with the fix in the message.
    /// </summary>
    public static void EnsureWritable(ServerOsUser user, string repository, string stanza)
    {
        string walDirectory = Path.Combine(repository, "wal", stanza);
        var directories = new List<string> { repository };
        if (Directory.Exists(walDirectory))
            directories.AddRange([walDirectory, .. Directory.EnumerateDirectories(walDirectory).Where(IsTimelineDirectory).Order(StringComparer.Ordinal)]);
        foreach (var directory in directories)
        {
            if (CanWrite(user, directory)) continue;
            EnsureReachable(user, directory);
            throw new PgBackupException(FailureKind.PermissionDenied,
                $"PostgreSQL runs archive_command as the OS user '{user.Name}' (the owner of its data directory {user.DataDirectory}), and that user " +
                $"cannot write {directory}: every WAL segment would fail to archive. Give the repository to it with 'chown -R {user.Name}: {repository}' " +
                "(or grant it write access), then run Enable-PgWalArchiving again. Nothing was changed on the server.", directory);
        }
    }

    /// <summary>
    /// Throws when a directory on the way to <paramref name="directory"/> (which need not exist yet) is one
    /// <paramref name="user"/> may not enter: root's umask 027/077 makes new parents 0750/0700, and no chown of the
    /// repository helps then.
    /// </summary>
    public static void EnsureReachable(ServerOsUser user, string directory)
    {
        if (FirstClosedParent(user, directory) is not { } closed) return;
        throw new PgBackupException(FailureKind.PermissionDenied,
            $"PostgreSQL runs archive_command as the OS user '{user.Name}' (the owner of its data directory {user.DataDirectory}), and that user " +
            $"cannot reach {directory}: it may not enter {closed}. Let it in (e.g. 'chmod o+x {closed}', or g+x for a group it is in), " +
            "then run Enable-PgWalArchiving again. Nothing was changed on the server.", closed);
    }

    /// <summary>The first existing directory on the way to <paramref name="directory"/> that <paramref name="user"/> may not search (x), or null.</summary>
    internal static string? FirstClosedParent(ServerOsUser user, string directory)
    {
        var parents = new List<string>();
        for (var parent = Path.GetDirectoryName(Path.GetFullPath(directory)); parent is not null; parent = Path.GetDirectoryName(parent))
            if (Directory.Exists(parent)) parents.Add(parent);
        parents.Reverse();
        return parents.FirstOrDefault(parent => !CanSearch(user, parent));
    }

    private static bool CanSearch(ServerOsUser user, string directory)
    {
        if (user.Uid == 0) return true;
        return AskAsUser(user, "-x", directory) ?? Allows(user.Uid, GroupsOf(user), directory, write: false);
    }

    private static bool IsTimelineDirectory(string path) => Path.GetFileName(path) is { Length: 8 } name && name.All(char.IsAsciiHexDigitUpper);

    /// <summary>
    /// Whether <paramref name="user"/> can create files in <paramref name="directory"/>. As root, asked of the system as
    /// that user (runuser ... test), which also honours ACLs and read-only mounts; otherwise from owner, group and mode bits
    /// of the directory and search permission on its parents.
    /// </summary>
    public static bool CanWrite(ServerOsUser user, string directory)
    {
        directory = Path.GetFullPath(directory);
        if (user.Uid == 0) return true;
        return AskAsUser(user, "-w", directory, "-a", "-x", directory) ?? CanWriteByMode(user, directory);
    }

    /// <summary>
    /// As root: <c>test</c> with <paramref name="test"/>, run as <paramref name="user"/> (runuser), which also honours
    /// ACLs and read-only mounts. Null when it cannot be asked that way (not root, a uid without a name, no runuser here):
    /// the mode bits decide then.
    /// </summary>
    private static bool? AskAsUser(ServerOsUser user, params string[] test)
    {
        if (!UnixFileOwner.IsRoot || UnixFileOwner.UserName(user.Uid) is not { } name) return null;
        try
        {
            ProgramRunner.Run("runuser", ["-u", name, "--", "test", .. test], TimeSpan.FromSeconds(30));
            return true;
        }
        catch (PgBackupException e) when (e.Kind == FailureKind.ToolFailed) { return false; }
        catch (Win32Exception) { return null; }
    }

    private static uint[] GroupsOf(ServerOsUser user) => UnixFileOwner.UserName(user.Uid) is { } name ? UnixFileOwner.Groups(name, user.Gid) : [user.Gid];

    /// <summary>The answer from owner, group and mode bits alone (ACLs not seen): for a session that cannot ask as the user.</summary>
    internal static bool CanWriteByMode(ServerOsUser user, string directory)
    {
        directory = Path.GetFullPath(directory);
        if (user.Uid == 0) return true;
        uint[] groups = GroupsOf(user);
        if (!Allows(user.Uid, groups, directory, write: true)) return false;
        for (var parent = Path.GetDirectoryName(directory); parent is not null; parent = Path.GetDirectoryName(parent))
            if (!Allows(user.Uid, groups, parent, write: false)) return false;
        return true;
    }

    private static bool Allows(uint uid, uint[] groups, string directory, bool write)
    {
        if (OperatingSystem.IsWindows() || UnixFileOwner.Of(directory) is not { } owner) return false;
        var mode = File.GetUnixFileMode(directory);
        var (w, x) = owner.Uid == uid ? (UnixFileMode.UserWrite, UnixFileMode.UserExecute)
            : groups.Contains(owner.Gid) ? (UnixFileMode.GroupWrite, UnixFileMode.GroupExecute)
            : (UnixFileMode.OtherWrite, UnixFileMode.OtherExecute);
        return mode.HasFlag(x) && (!write || mode.HasFlag(w));
    }
}
