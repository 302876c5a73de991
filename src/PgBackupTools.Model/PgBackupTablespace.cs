namespace PgBackupTools;

/// <summary>
/// A tablespace besides pg_default and pg_global that a physical backup carries (its files are in the base tar under
/// pg_tblspc/&lt;Oid&gt;/): what Restore-PgDatabase -TablespaceMapping maps by <see cref="Location"/>.
/// </summary>
public sealed class PgBackupTablespace
{
    /// <summary>The tablespace's OID: the name of its link in the data directory's pg_tblspc.</summary>
    public uint Oid { get; set; }
    public string Name { get; set; } = "";
    /// <summary>The directory it was in on the backed-up server (pg_tablespace_location); a restore puts it back there unless mapped elsewhere.</summary>
    public string Location { get; set; } = "";

    public override string ToString() => $"{Name} ({Oid}): {Location}";
}
