using System.Text.RegularExpressions;
using PgBackupTools.Core.Errors;

namespace PgBackupTools.Core.Backup;

/// <summary>A file or directory of a data directory that a file-copy backup carries; paths relative, '/'-separated; the size when scanned.</summary>
public sealed record DataDirectoryEntry(string Path, bool IsDirectory, long Size = 0);

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
/// Symbolic links other than pg_wal itself are refused (restores handle a single tablespace only).
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

    public static List<DataDirectoryEntry> Scan(string dataDirectory)
    {
        var entries = new List<DataDirectoryEntry>();
        bool hasControlFile = false;
        ScanDirectory(dataDirectory, "", entries, ref hasControlFile);
        if (!hasControlFile)
            throw new PgBackupException(FailureKind.InvalidArgument, $"{dataDirectory} has no {ControlFile}; it is not a PostgreSQL data directory.", dataDirectory);
        entries.Add(new DataDirectoryEntry(ControlFile, false, new FileInfo(Path.Combine(dataDirectory, ControlFile)).Length));
        return entries;
    }

    private static void ScanDirectory(string root, string relative, List<DataDirectoryEntry> entries, ref bool hasControlFile)
    {
        string directory = relative.Length == 0 ? root : Path.Combine(root, relative);
        bool isDatabaseDirectory = relative.StartsWith("base/", StringComparison.Ordinal) && relative.IndexOf('/', 5) < 0;
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
                throw new PgBackupException(FailureKind.InvalidArgument,
                    $"The data directory holds a symbolic link '{path}' -> '{info.LinkTarget}'; physical backups carry a single-tablespace data directory without links so far. Move what it points to into the data directory, or take a logical backup.", path);
            }
            if (info is DirectoryInfo)
            {
                if (path == "pg_wal") { AddWalDirectory(entries); continue; }
                entries.Add(new DataDirectoryEntry(path, true));
                if (!ContentsExcluded.Contains(name)) ScanDirectory(root, path, entries, ref hasControlFile);
            }
            else
            {
                entries.Add(new DataDirectoryEntry(path, false, ((FileInfo)info).Length));
            }
        }
    }

    private static void AddWalDirectory(List<DataDirectoryEntry> entries)
    {
        entries.Add(new DataDirectoryEntry("pg_wal", true));
        entries.Add(new DataDirectoryEntry("pg_wal/archive_status", true));
    }
}
