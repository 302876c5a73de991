namespace PgBackupTools.Infrastructure;

/// <summary>
/// The repositories this user opened lately, newest first, for tab completion of -Repository. Kept in the user's
/// data folder; a read-only home (containers, CronJobs) just means no history, never a failure.
/// </summary>
internal static class RecentRepositories
{
    private const int Keep = 20;

    private static string FilePath
    {
        get
        {
            var baseDir = Environment.GetEnvironmentVariable("XDG_DATA_HOME");
            if (string.IsNullOrEmpty(baseDir)) baseDir = Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData);
            return Path.Combine(baseDir, "PgBackupTools", "recent-repositories.txt");
        }
    }

    public static IReadOnlyList<string> Load()
    {
        try { return File.Exists(FilePath) ? File.ReadAllLines(FilePath).Where(l => l.Length > 0).ToList() : []; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return []; }
    }

    public static void Remember(string location)
    {
        try
        {
            var list = Load().Where(l => l != location).Prepend(location).Take(Keep).ToList();
            Directory.CreateDirectory(Path.GetDirectoryName(FilePath)!);
            var temp = FilePath + ".tmp-" + Environment.ProcessId;
            File.WriteAllLines(temp, list);
            File.Move(temp, FilePath, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }
}
