namespace PgBackupTools.Core.Restore;

/// <summary>
/// A directory a physical restore writes into (the data directory, a tablespace's target): empty or missing is ready;
/// a non-empty one is, with -Force, renamed aside to &lt;path&gt;.pgbt-old-&lt;timestamp&gt;, never deleted.
/// </summary>
internal static class RestoreTargetDirectory
{
    public static bool IsEmptyOrMissing(string directory) => !Directory.Exists(directory) || !Directory.EnumerateFileSystemEntries(directory).Any();

    /// <summary>Renames <paramref name="directory"/> aside and returns where it went.</summary>
    public static string MoveAside(string directory)
    {
        string aside = $"{directory.TrimEnd(Path.DirectorySeparatorChar)}.pgbt-old-{DateTimeOffset.UtcNow:yyyyMMddTHHmmssfffZ}";
        Directory.Move(directory, aside);
        return aside;
    }
}
