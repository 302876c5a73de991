using System.Text.RegularExpressions;
using PgBackupTools.Core.Errors;

namespace PgBackupTools.Core.Backup;

/// <summary>A file or directory of a data directory that a file-copy backup carries; paths relative, '/'-separated; the size when scanned.</summary>
public sealed record DataDirectoryEntry(string Path, bool IsDirectory, long Size = 0);

/// <summary>
/// The tablespaces a scan follows: the OIDs of the server's tablespaces (their links in pg_tblspc) and the name prefix
/// of the server version's directory inside each (PG_15_ of PG_15_202209061; BASE_BACKUP sends only that one).
/// </summary>
public sealed record TablespaceScan(IReadOnlySet<uint> Oids, string VersionDirectoryPrefix)
{
    public static string VersionDirectoryPrefixOf(int serverVersionNumber) => serverVersionNumber >= 100000
        ? $"PG_{serverVersionNumber / 10000}_"
        : $"PG_{serverVersionNumber / 10000}.{serverVersionNumber / 100 % 100}_";
}

/// <summary>
/// What of a running cluster's data directory belongs in a base backup: the rules of PostgreSQL's own BASE_BACKUP
/// (src/backend/backup/basebackup.c), so that a file copy restores exactly like pg_basebackup's tar:
/// - pg_wal is carried empty (plus archive_status): the WAL comes from the archive;
/// - the contents of pg_dynshmem, pg_notify, pg_replslot, pg_serial, pg_snapshots, pg_stat_tmp, pg_subtrans are
///   skipped (rebuilt at startup), the directories kept;
/// - postmaster.pid/.opts, backup_label, tablespace_map, backup_manifest, pg_internal.init*, the .tmp files of
///   postgresql.auto.conf and current_logfiles, pgsql_tmp* temp files, and a server socket (.s.PGSQL.*) are skipped;
/// - in database directories, temporary relations (t&lt;backend&gt;_&lt;relfilenode&gt;) and every fork of an unlogged
///   relation but its init fork (recovery rebuilds the main fork from it);
/// - global/pg_control comes last, after every file it may describe.
/// A tablespace (the link pg_tblspc/&lt;oid&gt; of one of the server's tablespaces) is followed: its version directory
/// is carried as pg_tblspc/&lt;oid&gt;/PG_15_.../..., the paths BASE_BACKUP's manifest gives it, with the same rules as
/// base/ for the database directories in it. Other symbolic links than these and pg_wal itself are refused.
/// </summary>
public static class DataDirectoryScanner
{
    public const string ControlFile = Postgres.ControlFile.RelativePath;

    private static readonly HashSet<string> ExcludedFiles = new(StringComparer.Ordinal)
    {
        "postgresql.auto.conf.tmp", "current_logfiles.tmp", "backup_label", "tablespace_map", "backup_manifest",
        "postmaster.pid", "postmaster.opts",
    };

    private static readonly HashSet<string> ContentsExcluded = new(StringComparer.Ordinal)
    {
        "pg_stat_tmp", "pg_replslot", "pg_dynshmem", "pg_notify", "pg_serial", "pg_snapshots", "pg_subtrans",
    };

    // <relfilenode>[_fork][.segment], the name of a relation file that is not temporary (parse_filename_for_nontemp_relation).
    private static readonly Regex RelationFile = new(@"^(\d+)(?:_(fsm|vm|init))?(?:\.\d+)?$", RegexOptions.CultureInvariant);
    private static readonly Regex TempRelationFile = new(@"^t\d+_\d+(?:_(fsm|vm|init))?(?:\.\d+)?$", RegexOptions.CultureInvariant);

    // A database directory: base/<oid> or, in a tablespace, pg_tblspc/<oid>/PG_15_.../<oid>.
    private static readonly Regex DatabaseDirectory = new(@"^(?:base/[^/]+|pg_tblspc/\d+/PG_[^/]+/[^/]+)$", RegexOptions.CultureInvariant);

    /// <param name="tablespaces">The server's tablespaces to follow; null: a link in pg_tblspc is refused like any other.</param>
    public static List<DataDirectoryEntry> Scan(string dataDirectory, TablespaceScan? tablespaces = null)
    {
        var entries = new List<DataDirectoryEntry>();
        bool hasControlFile = false;
        ScanDirectory(dataDirectory, "", entries, ref hasControlFile, tablespaces);
        if (!hasControlFile)
            throw new PgBackupException(FailureKind.InvalidArgument, $"{dataDirectory} has no {ControlFile}; it is not a PostgreSQL data directory.", dataDirectory);
        entries.Add(new DataDirectoryEntry(ControlFile, false, new FileInfo(Path.Combine(dataDirectory, ControlFile)).Length));
        return entries;
    }

    private static void ScanDirectory(string root, string relative, List<DataDirectoryEntry> entries, ref bool hasControlFile, TablespaceScan? tablespaces)
    {
        string directory = relative.Length == 0 ? root : Path.Combine(root, relative);
        bool isDatabaseDirectory = DatabaseDirectory.IsMatch(relative);
        var names = new DirectoryInfo(directory).EnumerateFileSystemInfos().OrderBy(i => i.Name, StringComparer.Ordinal).ToList();
        var initForks = isDatabaseDirectory
            ? names.Select(i => RelationFile.Match(i.Name)).Where(m => m.Success && m.Groups[2].Value == "init").Select(m => m.Groups[1].Value).ToHashSet(StringComparer.Ordinal)
            : [];
        foreach (var info in names)
        {
            string name = info.Name;
            string path = relative.Length == 0 ? name : relative + "/" + name;
            if (name.StartsWith("pgsql_tmp", StringComparison.Ordinal) || ExcludedFiles.Contains(name) || name.StartsWith("pg_internal.init", StringComparison.Ordinal)
                || name.StartsWith(".s.PGSQL.", StringComparison.Ordinal)) // a server socket (and its lock) when unix_socket_directories is the data directory
                continue;
            if (path == ControlFile) { hasControlFile = true; continue; }
            if (isDatabaseDirectory && TempRelationFile.IsMatch(name)) continue;
            if (isDatabaseDirectory && RelationFile.Match(name) is { Success: true } relation && relation.Groups[2].Value != "init" && initForks.Contains(relation.Groups[1].Value))
                continue;

            if (info.LinkTarget is not null)
            {
                // pg_wal may live elsewhere (initdb --waldir); its contents are skipped anyway.
                if (path == "pg_wal" && Directory.Exists(info.FullName)) { AddWalDirectory(entries); continue; }
                if (relative == "pg_tblspc" && tablespaces is not null && uint.TryParse(name, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out uint oid)
                    && tablespaces.Oids.Contains(oid) && Directory.Exists(info.FullName))
                {
                    AddTablespace(root, path, entries, ref hasControlFile, tablespaces);
                    continue;
                }
                throw new PgBackupException(FailureKind.InvalidArgument,
                    $"The data directory holds a symbolic link '{path}' -> '{info.LinkTarget}' that is neither pg_wal nor one of the server's tablespaces; a physical backup would not carry what it points to. Move that into the data directory (or make it a tablespace), or take a logical backup.", path);
            }
            if (info is DirectoryInfo)
            {
                if (path == "pg_wal") { AddWalDirectory(entries); continue; }
                entries.Add(new DataDirectoryEntry(path, true));
                if (!ContentsExcluded.Contains(name)) ScanDirectory(root, path, entries, ref hasControlFile, tablespaces);
            }
            else
            {
                entries.Add(new DataDirectoryEntry(path, false, ((FileInfo)info).Length));
            }
        }
    }

    /// <summary>pg_tblspc/&lt;oid&gt; as a directory, and in it (through the link) the server version's directory only, as BASE_BACKUP sends it.</summary>
    private static void AddTablespace(string root, string path, List<DataDirectoryEntry> entries, ref bool hasControlFile, TablespaceScan tablespaces)
    {
        entries.Add(new DataDirectoryEntry(path, true));
        var versions = new DirectoryInfo(Path.Combine(root, path)).EnumerateDirectories()
            .Where(d => d.Name.StartsWith(tablespaces.VersionDirectoryPrefix, StringComparison.Ordinal))
            .Select(d => d.Name).Order(StringComparer.Ordinal).ToList();
        foreach (string version in versions)
        {
            entries.Add(new DataDirectoryEntry(path + "/" + version, true));
            ScanDirectory(root, path + "/" + version, entries, ref hasControlFile, tablespaces);
        }
    }

    private static void AddWalDirectory(List<DataDirectoryEntry> entries)
    {
        entries.Add(new DataDirectoryEntry("pg_wal", true));
        entries.Add(new DataDirectoryEntry("pg_wal/archive_status", true));
    }
}
