using PgBackupTools.Core.Errors;

namespace PgBackupTools.Core.Postgres;

/// <summary>
/// Finds pg_dump, pg_restore, psql and friends. pg_dump must be at least as new as the server, so the folder of the
/// server's major version wins; PGBACKUPTOOLS_PGBIN overrides the search entirely.
/// </summary>
public static class PgClientTools
{
    public const string OverrideVariable = "PGBACKUPTOOLS_PGBIN";

    public static string Find(string tool, int? serverMajorVersion = null)
    {
        string exe = OperatingSystem.IsWindows() ? tool + ".exe" : tool;
        var overrideDir = Environment.GetEnvironmentVariable(OverrideVariable);
        if (!string.IsNullOrEmpty(overrideDir))
        {
            var candidate = Path.Combine(overrideDir, exe);
            return File.Exists(candidate) ? candidate : throw NotFound(tool, $"in '{overrideDir}' (set by {OverrideVariable})");
        }
        foreach (var dir in CandidateDirectories(serverMajorVersion))
        {
            var candidate = Path.Combine(dir, exe);
            if (File.Exists(candidate)) return candidate;
        }
        throw NotFound(tool, "in /usr/lib/postgresql/*/bin or on PATH");
    }

    /// <summary>The major version of a client program, from its --version ("pg_dump (PostgreSQL) 15.18" gives 15).</summary>
    public static int MajorVersionOf(string toolPath)
    {
        var psi = new System.Diagnostics.ProcessStartInfo(toolPath, "--version") { RedirectStandardOutput = true, UseShellExecute = false };
        using var process = System.Diagnostics.Process.Start(psi)!;
        string text = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        var match = System.Text.RegularExpressions.Regex.Match(text, @"\)\s+(\d+)");
        return match.Success ? int.Parse(match.Groups[1].Value) : throw new PgBackupException(FailureKind.NotInstalled, $"Cannot tell the version of {toolPath} from '{text.Trim()}'.", toolPath);
    }

    private static IEnumerable<string> CandidateDirectories(int? serverMajorVersion)
    {
        const string debianRoot = "/usr/lib/postgresql";
        if (Directory.Exists(debianRoot))
        {
            var versions = Directory.GetDirectories(debianRoot)
                .Select(d => int.TryParse(Path.GetFileName(d), out var v) ? v : -1)
                .Where(v => v > 0)
                .OrderByDescending(v => v)
                .ToList();
            // The server's own version first, then newer ones (a newer pg_dump reads an older server), then older.
            if (serverMajorVersion is int major)
                versions = versions.Where(v => v == major).Concat(versions.Where(v => v > major)).Concat(versions.Where(v => v < major)).ToList();
            foreach (var v in versions) yield return Path.Combine(debianRoot, v.ToString(), "bin");
        }
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
            yield return dir;
    }

    private static PgBackupException NotFound(string tool, string where) => new(FailureKind.NotInstalled,
        $"{tool} was not found {where}. Install the PostgreSQL client tools (Debian/Ubuntu: apt-get install postgresql-client) " +
        $"or set {OverrideVariable} to the folder that holds {tool}.", tool);
}
