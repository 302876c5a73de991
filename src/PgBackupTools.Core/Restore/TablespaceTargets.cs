using System.Globalization;
using System.Text;
using PgBackupTools.Core.Errors;

namespace PgBackupTools.Core.Restore;

/// <summary>
/// Where a physical restore puts each tablespace of the backup: its original location, or the directory
/// -TablespaceMapping gives for that location (pg_basebackup's -T OLDDIR=NEWDIR). The tar carries a tablespace as
/// pg_tblspc/&lt;oid&gt;/PG_15_.../...: pg_tblspc/&lt;oid&gt; becomes a symbolic link to the target and the files
/// below it are written there; tablespace_map (PostgreSQL recreates the links from it when recovery starts) is
/// rewritten to name the targets. A tablespace the tar carries without a target is an error, never a write to
/// wherever its link or map pointed: a test restore must not touch the live server's tablespaces.
/// </summary>
internal sealed class TablespaceTargets
{
    private const string Prefix = "pg_tblspc/";
    private const int MaxMapBytes = 1 << 20;
    private readonly Dictionary<uint, (PgBackupTablespace Tablespace, string Target)> _targets;
    private readonly HashSet<uint> _inPlace;
    private readonly string _backupId;

    private TablespaceTargets(Dictionary<uint, (PgBackupTablespace, string)> targets, HashSet<uint> inPlace, string backupId)
    {
        _targets = targets;
        _inPlace = inPlace;
        _backupId = backupId;
    }

    public int Count => _targets.Count;

    /// <summary>Each tablespace and the directory it is restored into.</summary>
    public IEnumerable<(PgBackupTablespace Tablespace, string Target)> All => _targets.Values;

    /// <summary>
    /// The targets of the backup's tablespaces (those in a directory of their own; an in-place tablespace is a plain
    /// directory of the data directory), checked: every key of <paramref name="mapping"/> is the location of one of
    /// them, and no two targets overlap each other or the data directory. With <paramref name="root"/>, every one goes
    /// into &lt;root&gt;/&lt;oid&gt; instead (from the manifest's own list, so no tablespace can be missed).
    /// </summary>
    public static TablespaceTargets Resolve(PgBackup backup, string dataDir, IReadOnlyDictionary<string, string>? mapping, string? root = null)
    {
        var external = (backup.Tablespaces ?? []).Where(t => Path.IsPathRooted(t.Location)).ToList();
        if (root is not null)
        {
            if (mapping is { Count: > 0 }) throw new ArgumentException("A tablespace root and a tablespace mapping exclude each other.", nameof(mapping));
            mapping = external.ToDictionary(t => t.Location, t => Path.Combine(root, t.Oid.ToString(CultureInfo.InvariantCulture)), StringComparer.Ordinal);
        }
        var byLocation = external.ToDictionary(t => Normalize(t.Location), StringComparer.Ordinal);
        var mapped = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in mapping ?? new Dictionary<string, string>())
        {
            string old = Path.IsPathRooted(key) ? Normalize(key) : key;
            if (!byLocation.ContainsKey(old))
                throw new PgBackupException(FailureKind.InvalidArgument,
                    $"-TablespaceMapping names '{key}', which is not the location of a tablespace of backup {backup.Id} " +
                    (external.Count == 0 ? "(it has none besides pg_default and pg_global)" : $"(its tablespaces: {string.Join(", ", external.Select(t => $"{t.Name} at '{t.Location}'"))})") +
                    "; nothing was written. The keys are the original locations (Get-PgBackup shows them under Tablespaces).", key);
            if (string.IsNullOrWhiteSpace(value) || !Path.IsPathRooted(value))
                throw new PgBackupException(FailureKind.InvalidArgument, $"-TablespaceMapping maps '{key}' to '{value}', which is not an absolute directory path; nothing was written.", key);
            mapped[old] = Normalize(value);
        }

        var targets = new Dictionary<uint, (PgBackupTablespace, string)>();
        string data = Normalize(dataDir);
        foreach (var tablespace in external)
        {
            string target = mapped.TryGetValue(Normalize(tablespace.Location), out var to) ? to : Normalize(tablespace.Location);
            if (Overlaps(target, data))
                throw new PgBackupException(FailureKind.InvalidArgument,
                    $"Tablespace {tablespace.Name} would be restored into {target}, which {(target == data ? "is" : "overlaps")} the data directory {data}; nothing was written. Map it elsewhere with -TablespaceMapping @{{ '{tablespace.Location}' = '<directory>' }}.", target);
            foreach (var (other, otherTarget) in targets.Values)
                if (Overlaps(target, otherTarget))
                    throw new PgBackupException(FailureKind.InvalidArgument,
                        $"Tablespaces {other.Name} and {tablespace.Name} would both be restored into {target}; nothing was written. Give each its own directory with -TablespaceMapping.", target);
            targets[tablespace.Oid] = (tablespace, target);
        }
        var inPlace = (backup.Tablespaces ?? []).Where(t => !Path.IsPathRooted(t.Location)).Select(t => t.Oid).ToHashSet();
        return new TablespaceTargets(targets, inPlace, backup.Id);
    }

    /// <summary>
    /// A non-empty target is refused unless <paramref name="force"/>, like a non-empty data directory. Even with it, a
    /// non-empty original location is moved aside only when the data directory being replaced links to it: otherwise it
    /// may be a running server's tablespace (a restore beside the source, on its host), which -Force must not pull away.
    /// </summary>
    public void Check(bool force, string dataDir)
    {
        foreach (var (tablespace, target) in _targets.Values)
        {
            if (RestoreTargetDirectory.IsEmptyOrMissing(target)) continue;
            if (!force)
                throw new PgBackupException(FailureKind.InvalidArgument,
                    $"The directory {target} for tablespace {tablespace.Name} (oid {tablespace.Oid}, originally at {tablespace.Location}) is not empty; nothing was changed. " +
                    $"Restore it into an empty or new directory with -TablespaceMapping @{{ '{tablespace.Location}' = '<new directory>' }}, or give -Force to move the existing one aside (it is renamed, never deleted).", target);
            if (target == Normalize(tablespace.Location) && !LinksTo(dataDir, tablespace.Oid, target))
                throw new PgBackupException(FailureKind.InvalidArgument,
                    $"The directory {target} is tablespace {tablespace.Name}'s original location and not empty, and the data directory {dataDir} being replaced does not link to it: it may belong to a running server (the backup's source), so even -Force does not move it; nothing was changed. " +
                    $"Restore the tablespace elsewhere with -TablespaceMapping @{{ '{tablespace.Location}' = '<new directory>' }}, or stop the server that uses it and move the directory aside yourself.", target);
        }
    }

    /// <summary>Moves every non-empty target aside to &lt;path&gt;.pgbt-old-&lt;timestamp&gt; (after <see cref="Check"/>); returns where each went.</summary>
    public List<string> MoveAside(OperationContext context)
    {
        var moved = new List<string>();
        foreach (var (tablespace, target) in _targets.Values.Where(t => !RestoreTargetDirectory.IsEmptyOrMissing(t.Target)))
        {
            string aside = RestoreTargetDirectory.MoveAside(target);
            context.Warn($"Moved the existing directory of tablespace {tablespace.Name}, {target}, aside to {aside}.");
            moved.Add(aside);
        }
        return moved;
    }

    /// <summary>
    /// Where a tar entry under pg_tblspc/ goes. <paramref name="isRoot"/>: the entry is pg_tblspc/&lt;oid&gt; itself,
    /// which becomes the link (<see cref="CreateLink"/>). False: not a tablespace with a target (an in-place one, or
    /// pg_tblspc itself); the entry is written inside the data directory as usual.
    /// </summary>
    public bool TryMap(string entryName, out string path, out bool isRoot, out uint oid)
    {
        path = "";
        isRoot = false;
        oid = 0;
        string name = entryName.StartsWith("./", StringComparison.Ordinal) ? entryName[2..] : entryName;
        if (!name.StartsWith(Prefix, StringComparison.Ordinal)) return false;
        string rest = name[Prefix.Length..].TrimEnd('/');
        int slash = rest.IndexOf('/');
        string oidText = slash < 0 ? rest : rest[..slash];
        if (!uint.TryParse(oidText, NumberStyles.None, CultureInfo.InvariantCulture, out oid)) return false;
        if (!_targets.TryGetValue(oid, out var found))
        {
            if (_inPlace.Contains(oid)) return false; // a directory of the data directory (allow_in_place_tablespaces)
            throw new PgBackupException(FailureKind.InvalidData,
                $"The backup's tar holds files of tablespace {oid}, which backup {_backupId}'s manifest does not record; it is not restored to wherever that tablespace was. Restore another backup.", entryName);
        }
        isRoot = slash < 0;
        string root = found.Target;
        path = isRoot ? root : Path.GetFullPath(Path.Combine(root, rest[(slash + 1)..]));
        if (!isRoot && !path.StartsWith(root + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            throw new PgBackupException(FailureKind.InvalidData, $"The backup's tar holds an entry outside tablespace {oid}'s directory: '{entryName}'.", entryName);
        return true;
    }

    /// <summary>pg_tblspc/&lt;oid&gt; in the data directory as a symbolic link to the tablespace's target.</summary>
    public void CreateLink(string dataDir, uint oid)
    {
        string link = Path.Combine(dataDir, "pg_tblspc", oid.ToString(CultureInfo.InvariantCulture));
        Directory.CreateDirectory(Path.GetDirectoryName(link)!);
        if (Directory.Exists(link) || File.Exists(link)) return;
        File.CreateSymbolicLink(link, _targets[oid].Target);
    }

    /// <summary>
    /// tablespace_map with every line naming its tablespace's target (escaped as PostgreSQL writes it: a backslash before
    /// a backslash, a newline or a carriage return). A line of a tablespace without a target is an error: PostgreSQL
    /// would link it to the original location when recovery starts.
    /// </summary>
    public byte[] RewriteMap(byte[] original)
    {
        if (original.Length > MaxMapBytes)
            throw new PgBackupException(FailureKind.InvalidData, $"The backup's tablespace_map is {original.Length:N0} bytes; not a tablespace map.", "tablespace_map");
        var text = new StringBuilder();
        foreach (string line in Encoding.UTF8.GetString(original).Split('\n'))
        {
            if (line.Length == 0) continue;
            int space = line.IndexOf(' ');
            if (space < 0 || !uint.TryParse(line.AsSpan(0, space), NumberStyles.None, CultureInfo.InvariantCulture, out uint oid) || !_targets.TryGetValue(oid, out var found))
                throw new PgBackupException(FailureKind.InvalidData,
                    $"The backup's tablespace_map names a tablespace that backup {_backupId}'s manifest does not record ('{line}'); PostgreSQL would link it to its original location, so the restore stops. Restore another backup.", "tablespace_map");
            text.Append(oid.ToString(CultureInfo.InvariantCulture)).Append(' ');
            foreach (char c in found.Target)
            {
                if (c is '\\' or '\n' or '\r') text.Append('\\');
                text.Append(c);
            }
            text.Append('\n');
        }
        return Encoding.UTF8.GetBytes(text.ToString());
    }

    private static bool LinksTo(string dataDir, uint oid, string target)
    {
        var link = new FileInfo(Path.Combine(dataDir, "pg_tblspc", oid.ToString(CultureInfo.InvariantCulture)));
        return link.LinkTarget is { } points && Normalize(Path.Combine(Path.GetDirectoryName(link.FullName)!, points)) == target;
    }

    private static string Normalize(string path) => Path.TrimEndingDirectorySeparator(Path.GetFullPath(path));

    private static bool Overlaps(string a, string b) =>
        a == b || a.StartsWith(b + Path.DirectorySeparatorChar, StringComparison.Ordinal) || b.StartsWith(a + Path.DirectorySeparatorChar, StringComparison.Ordinal);
}
