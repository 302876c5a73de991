using System.Text;

namespace PgBackupTools.Core.Postgres;

/// <summary>
/// A passfile in a private temporary folder (0700, file 0600) that lets pg_dump, pg_restore and psql authenticate
/// without the password ever appearing in their arguments or environment. Deleted on Dispose.
/// </summary>
internal sealed class PgPassFile : IDisposable
{
    public string Path { get; }
    private readonly string _directory;

    private PgPassFile(string directory, string path)
    {
        _directory = directory;
        Path = path;
    }

    public static PgPassFile Create(string password)
    {
        var dir = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "pgbt-" + Guid.NewGuid().ToString("N"));
        if (OperatingSystem.IsWindows()) Directory.CreateDirectory(dir);
        else Directory.CreateDirectory(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var path = System.IO.Path.Combine(dir, "pgpass");
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        using (var stream = new FileStream(path, options))
        {
            var line = "*:*:*:*:" + Escape(password) + "\n";
            stream.Write(Encoding.UTF8.GetBytes(line));
        }
        return new PgPassFile(dir, path);
    }

    private static string Escape(string value) => value.Replace("\\", "\\\\").Replace(":", "\\:");

    public void Dispose()
    {
        try { Directory.Delete(_directory, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}
