namespace PgBackupTools.TestKit;

/// <summary>
/// Copies a directory while a server writes to it, as a block-level volume snapshot of a running cluster would
/// capture it (torn across files; backup mode and WAL replay make it consistent). Files that vanish mid-copy are skipped.
/// </summary>
public static class LiveDirectoryCopy
{
    public static void Copy(string source, string destination)
    {
        Directory.CreateDirectory(destination);
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(destination, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        foreach (var entry in new DirectoryInfo(source).EnumerateFileSystemInfos())
        {
            string target = Path.Combine(destination, entry.Name);
            try
            {
                if (entry is DirectoryInfo dir) Copy(dir.FullName, target);
                else File.Copy(entry.FullName, target, overwrite: true);
            }
            catch (FileNotFoundException) { }
            catch (DirectoryNotFoundException) { }
        }
    }
}
