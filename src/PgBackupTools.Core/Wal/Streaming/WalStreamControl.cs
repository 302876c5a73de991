using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using PgBackupTools.Core.Errors;

namespace PgBackupTools.Core.Wal.Streaming;

/// <summary>What a running stream writes into its lock file.</summary>
public sealed class WalStreamLock
{
    public int ProcessId { get; set; }
    public string Repository { get; set; } = "";
    public string Stanza { get; set; } = "";
    public string? Slot { get; set; }
    public DateTimeOffset Started { get; set; }
}

/// <summary>
/// One stream per repository and stanza on a machine, and a way to stop it from another process that works the same
/// for a service, a job and a terminal: a lock file <c>&lt;state&gt;/stream-&lt;hash&gt;.lock</c> (held open
/// exclusively while the stream runs, so a crashed stream never blocks the next; <c>.json</c> beside it says which
/// process, repository, stanza and slot) and a stop request
/// <c>stream-&lt;hash&gt;.stop</c> that the stream polls and honours like Ctrl+C: it flushes its partial first.
/// The state folder is $PGBACKUPTOOLS_STATE_DIR, else ~/.local/state/PgBackupTools (Windows: %LOCALAPPDATA%\PgBackupTools).
/// </summary>
public sealed class WalStreamControl : IDisposable
{
    private readonly FileStream _lock;
    public string LockPath { get; }
    public string StopPath { get; }

    private WalStreamControl(FileStream lockFile, string lockPath, string stopPath)
    {
        _lock = lockFile;
        LockPath = lockPath;
        StopPath = stopPath;
    }

    /// <summary>The state folder: <paramref name="given"/>, else $PGBACKUPTOOLS_STATE_DIR, else the per-user default.</summary>
    public static string StateDirectoryOf(string? given = null) =>
        given is { Length: > 0 } ? Path.GetFullPath(given)
        : Environment.GetEnvironmentVariable("PGBACKUPTOOLS_STATE_DIR") is { Length: > 0 } dir ? dir
        : OperatingSystem.IsWindows() ? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData), "PgBackupTools")
        : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".local", "state", "PgBackupTools");

    private static string BaseName(string repository, string stanza)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(repository + "\n" + stanza));
        return "stream-" + Convert.ToHexString(hash, 0, 8).ToLowerInvariant();
    }

    public static string LockPathOf(string repository, string stanza, string? stateDirectory = null) => Path.Combine(StateDirectoryOf(stateDirectory), BaseName(repository, stanza) + ".lock");
    public static string InfoPathOf(string repository, string stanza, string? stateDirectory = null) => Path.Combine(StateDirectoryOf(stateDirectory), BaseName(repository, stanza) + ".json");
    public static string StopPathOf(string repository, string stanza, string? stateDirectory = null) => Path.Combine(StateDirectoryOf(stateDirectory), BaseName(repository, stanza) + ".stop");

    /// <summary>Takes the lock of (repository, stanza); a second stream of the same archive on this machine is refused.</summary>
    public static WalStreamControl Acquire(string repository, string stanza, string? slot, string? stateDirectory = null)
    {
        Directory.CreateDirectory(StateDirectoryOf(stateDirectory));
        string lockPath = LockPathOf(repository, stanza, stateDirectory), stopPath = StopPathOf(repository, stanza, stateDirectory);
        FileStream file;
        try
        {
            // FileShare.None: an exclusive lock (flock on Unix), released by the kernel when the process dies.
            file = new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException e)
        {
            throw new PgBackupException(FailureKind.AlreadyExists,
                $"A WAL stream of stanza '{stanza}' in {repository} already runs on this machine ({lockPath}: {e.Message}). Stop it first with Stop-PgWalStream.", lockPath, e);
        }
        try { File.Delete(stopPath); } catch (IOException) { }
        var info = new WalStreamLock { ProcessId = Environment.ProcessId, Repository = repository, Stanza = stanza, Slot = slot, Started = DateTimeOffset.UtcNow };
        File.WriteAllText(InfoPathOf(repository, stanza, stateDirectory), JsonSerializer.Serialize(info, WalStreamJsonContext.Default.WalStreamLock));
        return new WalStreamControl(file, lockPath, stopPath);
    }

    /// <summary>Completes when a stop is requested (the stop file appears) or <paramref name="ct"/> is cancelled.</summary>
    public async Task WaitForStopRequestAsync(CancellationToken ct)
    {
        while (!File.Exists(StopPath)) await Task.Delay(250, ct).ConfigureAwait(false);
    }

    /// <summary>The stream that runs for (repository, stanza), or null when none does (no lock file, or a stale one).</summary>
    public static WalStreamLock? FindRunning(string repository, string stanza, string? stateDirectory = null)
    {
        string lockPath = LockPathOf(repository, stanza, stateDirectory);
        if (!IsHeld(lockPath)) return null;
        try
        {
            return JsonSerializer.Deserialize(File.ReadAllText(InfoPathOf(repository, stanza, stateDirectory)), WalStreamJsonContext.Default.WalStreamLock);
        }
        catch (Exception e) when (e is IOException or JsonException)
        {
            return null;
        }
    }

    private static bool IsHeld(string lockPath)
    {
        if (!File.Exists(lockPath)) return false;
        try
        {
            using var probe = new FileStream(lockPath, FileMode.Open, FileAccess.ReadWrite, FileShare.None);
            return false; // nobody holds it: a stream that died
        }
        catch (IOException)
        {
            return true;
        }
    }

    /// <summary>Asks the stream of (repository, stanza) to stop and waits until it has (flushed and released its lock).</summary>
    public static async Task<bool> RequestStopAsync(string repository, string stanza, TimeSpan timeout, CancellationToken ct, string? stateDirectory = null)
    {
        string lockPath = LockPathOf(repository, stanza, stateDirectory);
        if (!IsHeld(lockPath)) return false;
        await File.WriteAllTextAsync(StopPathOf(repository, stanza, stateDirectory), Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture), ct).ConfigureAwait(false);
        var watch = Stopwatch.StartNew();
        while (IsHeld(lockPath))
        {
            if (watch.Elapsed > timeout)
                throw new PgBackupException(FailureKind.OperationFailed,
                    $"The WAL stream of stanza '{stanza}' in {repository} did not stop within {timeout.TotalSeconds:F0} s. Its lock file is {lockPath}; stop its process if it hangs.", lockPath);
            await Task.Delay(200, ct).ConfigureAwait(false);
        }
        return true;
    }

    public void Dispose()
    {
        try { File.Delete(StopPath); } catch (IOException) { }
        try { File.Delete(Path.ChangeExtension(LockPath, ".json")); } catch (IOException) { }
        _lock.Dispose();
    }
}
