using System.Diagnostics;
using PgBackupTools.Core.Errors;
using PgBackupTools.Core.Storage;

namespace PgBackupTools.Core.Postgres;

/// <summary>
/// Runs a short program to its end and returns what it printed (pg_ctl, pg_verifybackup, chown, runuser): a non-zero
/// exit or a timeout fails with the program's own output in the message. Long-running tools with streamed input or
/// output go through <see cref="PgToolProcess"/> instead.
/// </summary>
internal static class ProgramRunner
{
    /// <param name="environment">Variables to set for the program; an empty value removes the variable.</param>
    public static (int Code, string Output) Run(string program, IEnumerable<string> args, TimeSpan timeout, IReadOnlyDictionary<string, string>? environment = null)
    {
        var psi = new ProcessStartInfo(program) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            if (value.Length == 0) psi.Environment.Remove(name);
            else psi.Environment[name] = value;
        }
        using var p = Process.Start(psi)!;
        var outTask = p.StandardOutput.ReadToEndAsync();
        var errTask = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeout)) { p.Kill(true); throw new PgBackupException(FailureKind.OperationFailed, $"{program} did not finish in {timeout.TotalSeconds:F0} s.", program); }
        string output = (outTask.Result + errTask.Result).Trim();
        if (p.ExitCode != 0) throw new PgBackupException(FailureKind.ToolFailed, $"{program} {string.Join(' ', psi.ArgumentList)} failed ({p.ExitCode}): {output}", program);
        return (p.ExitCode, output);
    }

    /// <summary>
    /// Runs a server program (pg_ctl) as the server's OS user: PostgreSQL refuses root, so as root it goes through
    /// <c>runuser -u <paramref name="serverUser"/></c>; otherwise it runs as this user.
    /// </summary>
    public static (int Code, string Output) RunAsServerUser(string? serverUser, string program, IEnumerable<string> args, TimeSpan timeout, IReadOnlyDictionary<string, string>? environment = null) =>
        UnixFileOwner.IsRoot
            ? Run("runuser", ["-u", serverUser ?? "postgres", "--", program, .. args], timeout, environment)
            : Run(program, args, timeout, environment);
}
