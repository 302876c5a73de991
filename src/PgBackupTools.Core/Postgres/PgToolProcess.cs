using System.Diagnostics;
using System.Text;
using PgBackupTools.Core.Errors;

namespace PgBackupTools.Core.Postgres;

/// <summary>
/// One run of a PostgreSQL client program (pg_dump, pg_restore, psql) with connection settings passed the safe way:
/// host, port and user as arguments, the password through a private passfile. Standard error is kept (the last
/// 64 KiB) for the error message; standard input/output are streams the caller pumps.
/// </summary>
public sealed class PgToolProcess : IAsyncDisposable
{
    private const int StderrLimit = 64 * 1024;
    private readonly Process _process;
    private readonly PgPassFile? _passFile;
    private readonly StringBuilder _stderr = new();
    private readonly Task _stderrPump;
    private readonly string _toolName;

    public Stream StandardOutput => _process.StandardOutput.BaseStream;
    public Stream StandardInput => _process.StandardInput.BaseStream;
    public int ProcessId => _process.Id;

    private PgToolProcess(Process process, PgPassFile? passFile, string toolName)
    {
        _process = process;
        _passFile = passFile;
        _toolName = toolName;
        _stderrPump = Task.Run(PumpStderr);
    }

    /// <summary>Starts a tool. Connection arguments (-h, -p, -U) are added from <paramref name="connection"/>; <paramref name="arguments"/> follow.</summary>
    public static PgToolProcess Start(string toolPath, PgConnectionInfo connection, IEnumerable<string> arguments,
        bool redirectStdin = false, bool redirectStdout = true)
    {
        var psi = new ProcessStartInfo(toolPath)
        {
            UseShellExecute = false,
            RedirectStandardError = true,
            RedirectStandardOutput = redirectStdout,
            RedirectStandardInput = redirectStdin,
        };
        psi.ArgumentList.Add("-h"); psi.ArgumentList.Add(connection.Host);
        psi.ArgumentList.Add("-p"); psi.ArgumentList.Add(connection.Port.ToString());
        psi.ArgumentList.Add("-U"); psi.ArgumentList.Add(connection.Username);
        foreach (var a in arguments) psi.ArgumentList.Add(a);
        psi.Environment["PGAPPNAME"] = "PgBackupTools";
        psi.Environment["PGCONNECT_TIMEOUT"] = "15";
        PgPassFile? passFile = null;
        if (connection.Password is not null)
        {
            passFile = PgPassFile.Create(connection.Password);
            psi.Environment["PGPASSFILE"] = passFile.Path;
            psi.Environment.Remove("PGPASSWORD"); // it would take precedence over the passfile
        }
        try
        {
            var process = Process.Start(psi) ?? throw new InvalidOperationException("Process.Start returned null");
            return new PgToolProcess(process, passFile, Path.GetFileName(toolPath));
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            passFile?.Dispose();
            throw new PgBackupException(FailureKind.NotInstalled, $"Could not start {toolPath}: {e.Message}", toolPath, e);
        }
    }

    private async Task PumpStderr()
    {
        var buffer = new char[4096];
        int n;
        while ((n = await _process.StandardError.ReadAsync(buffer).ConfigureAwait(false)) > 0)
        {
            lock (_stderr)
            {
                _stderr.Append(buffer, 0, n);
                if (_stderr.Length > StderrLimit) _stderr.Remove(0, _stderr.Length - StderrLimit);
            }
        }
    }

    public string StandardErrorText
    {
        get { lock (_stderr) return _stderr.ToString().Trim(); }
    }

    /// <summary>Waits for the exit; a non-zero exit becomes a <see cref="PgBackupException"/> carrying the tool's own words.</summary>
    public async Task WaitForSuccessAsync(CancellationToken cancellationToken)
    {
        try
        {
            await _process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            Kill();
            throw;
        }
        await _stderrPump.ConfigureAwait(false);
        if (_process.ExitCode != 0)
            throw new PgBackupException(FailureKind.ToolFailed, $"{_toolName} failed (exit code {_process.ExitCode}): {StandardErrorText}", _toolName);
    }

    public void Kill()
    {
        try { if (!_process.HasExited) _process.Kill(entireProcessTree: true); }
        catch (InvalidOperationException) { }
    }

    public async ValueTask DisposeAsync()
    {
        Kill();
        try { await _process.WaitForExitAsync().ConfigureAwait(false); } catch (InvalidOperationException) { }
        _process.Dispose();
        _passFile?.Dispose();
    }
}
