using PgBackupTools;
using PgBackupTools.Core;
using PgBackupTools.Core.Errors;
using PgBackupTools.Core.Repository;
using PgBackupTools.Core.Streams;
using PgBackupTools.Core.Streams.Encryption;
using PgBackupTools.Core.Postgres;
using PgBackupTools.Core.Wal;
using PgBackupTools.Core.Wal.Streaming;

namespace PgBackupTools.Wal;

/// <summary>
/// pgbt-wal: archive_command / restore_command for PostgreSQL over the PgBackupTools core.
/// Exit codes: 0 done; 1 not in the archive (get; quiet, PostgreSQL asks for such files as a matter of course);
/// 2 failed (one line on stderr, which PostgreSQL writes to its log); 3 refused: a different file of that name is
/// already archived, or the file is from another cluster; 64 usage; 126: get found the archived file damaged.
/// PostgreSQL takes any non-zero exit of restore_command as "not archived" and ends recovery there (a standby goes
/// on polling) — except exit codes above 125, which abort recovery. A damaged archived segment must stop recovery,
/// not silently end it early and fork a new timeline over the loss, so that case exits 126 — and so does a get from an
/// encrypted repository that cannot be unlocked (no passphrase, an unreadable key file, a wrong passphrase): without
/// its key the archive is unreadable, which is no reason to promote. For the same reason a get that fails (the store
/// unreachable, a permission, a network error) during a targeted recovery (recovery.signal in the data directory,
/// which is restore_command's working directory) is tried twice more, after 1 s and 4 s, and then exits 126: started
/// again once the cause is fixed, the server resumes recovery where it stopped. A standby (standby.signal) gets 2 and
/// polls again, as it should.
/// The passphrase of an encrypted repository comes from the environment variable PGBACKUPTOOLS_PASSPHRASE or from
/// --passphrase-file (mode 0600), never from an argument value: arguments are visible to every user (ps, /proc).
/// </summary>
public static class Program
{
    private const int Ok = 0, NotFound = 1, Failed = 2, Refused = 3, Usage = 64, StopRecovery = 126;

    /// <summary>The waits before a failed get is tried again in a targeted recovery: a blip of the store is not worth stopping recovery for.</summary>
    private static readonly TimeSpan[] RecoveryRetryDelays = [TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(4)];

    private const string Help = """
        pgbt-wal push <wal-file> --repo <dir> [--stanza main] [--compression zstd|gzip|none] [--level N] [--passphrase-file <path>]
        pgbt-wal get <wal-name> <destination> --repo <dir> [--stanza main] [--prefetch 4] [--passphrase-file <path>]
        pgbt-wal stream --repo <dir> [--stanza main] [--host h] [--port 5432] [--user u] [--slot name] [--create-slot]
                        [--synchronous] [--application-name pgbt_main] [--flush-interval 0.5] [--compression zstd] [--passphrase-file <path>]
        pgbt-wal version

          postgresql.conf:  archive_command = '/path/pgbt-wal push %p --repo /srv/pgbackup'
                            restore_command = '/path/pgbt-wal get %f %p --repo /srv/pgbackup'
        Encrypted repository: the passphrase is read from the environment variable PGBACKUPTOOLS_PASSPHRASE (in the
        server's environment) or from --passphrase-file <path>, a file readable only by its owner (chmod 600, owned by
        the OS user that runs PostgreSQL). It is never taken as an argument value: those are visible to every user.
        stream: receives WAL over the replication protocol into the archive until SIGTERM/SIGINT or Stop-PgWalStream
        (flushes the open segment's .partial first). The password comes from PGPASSWORD or ~/.pgpass, never an argument.
        Exit codes: 0 ok, 1 not in the archive (get), 2 failed, 3 refused (different content or another cluster), 64 usage,
        126 get: damaged in the archive, or failing in a targeted recovery (recovery.signal) after two retries: PostgreSQL
        then stops recovery instead of ending it early; start it again once the cause is fixed.
        """;

    public static async Task<int> Main(string[] args)
    {
        int code = await RunOnceAsync(args).ConfigureAwait(false);
        if (code != Failed || args.Length < 2 || args[0] != "get" || !InTargetedRecovery()) return code;
        foreach (var delay in RecoveryRetryDelays)
        {
            await Task.Delay(delay).ConfigureAwait(false);
            code = await RunOnceAsync(args).ConfigureAwait(false);
            if (code != Failed) return code;
        }
        await Console.Error.WriteLineAsync($"pgbt-wal: {args[1]} could not be fetched (the reason is above); recovery stops here rather than end early " +
            "without the WAL that follows. Fix the cause, then start the server again: recovery resumes where it stopped.").ConfigureAwait(false);
        return StopRecovery;
    }

    /// <summary>
    /// restore_command runs in the data directory: recovery.signal without standby.signal is a recovery with an end
    /// (a restore, PITR), where "not fetched" would end it early and fork a new timeline.
    /// </summary>
    private static bool InTargetedRecovery() => File.Exists("recovery.signal") && !File.Exists("standby.signal");

    private static async Task<int> RunOnceAsync(string[] args)
    {
        // A get that cannot read what is archived stops recovery (above 125) rather than ending it early; a push just fails.
        int unreadable = args.Length > 0 && args[0] == "get" ? StopRecovery : Failed;
        try
        {
            return await RunAsync(args).ConfigureAwait(false);
        }
        catch (UsageException e)
        {
            await Console.Error.WriteLineAsync($"pgbt-wal: {e.Message}\n{Help}").ConfigureAwait(false);
            return Usage;
        }
        catch (Exception e) when (e is WrongPassphraseException or ArchiveLockedException)
        {
            await Report(e.Message).ConfigureAwait(false);
            return unreadable;
        }
        catch (PgBackupException e)
        {
            await Report(e.Message).ConfigureAwait(false);
            if (e is WalConflictException or WalWrongClusterException) return Refused;
            return e.Kind == FailureKind.InvalidData ? unreadable : Failed;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException)
        {
            await Report($"{e.GetType().Name}: {e.Message}").ConfigureAwait(false);
            return Failed;
        }
        catch (Exception e)
        {
            // Anything else is a bug or an SDK surprise: one line for the server log instead of a stack trace and an abort
            // signal. A get still exits above 125, as the crash did: recovery stops rather than ends early on a fault.
            await Report($"unexpected {e.GetType().Name}: {e.Message}").ConfigureAwait(false);
            return unreadable;
        }
    }

    /// <summary>One line on stderr, which PostgreSQL copies into its log.</summary>
    private static Task Report(string message) => Console.Error.WriteLineAsync("pgbt-wal: " + message.ReplaceLineEndings(" "));

    private static async Task<int> RunAsync(string[] args)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
        {
            Console.Out.WriteLine(Help);
            return args.Length == 0 ? Usage : Ok;
        }
        if (args[0] is "push" or "get") WarmUp();
        var (positional, options) = Parse(args.AsSpan(1));
        string Option(string name) => options.TryGetValue(name, out var v) ? v : throw new UsageException($"--{name} is required.");
        string? Optional(string name) => options.GetValueOrDefault(name);
        // An encrypted repository: --passphrase-file, else PGBACKUPTOOLS_PASSPHRASE (BackupRepository.OpenAsync reads it).
        PassphraseSource? passphrase = Optional("passphrase-file") is { } file ? PassphraseSource.FromKeyFile(file) : null;
        switch (args[0])
        {
            case "push":
            {
                if (positional.Count != 1) throw new UsageException("push takes one WAL file path (%p).");
                var archive = await OpenAsync(Option("repo"), Optional("stanza"), passphrase).ConfigureAwait(false);
                var push = new WalPushOptions
                {
                    Compression = Optional("compression") is { } c ? ParseCompression(c) : CompressionKind.Zstd,
                    Level = Optional("level") is { } l ? ParseInt(l, "--level") : null,
                };
                await archive.PushAsync(positional[0], push, OperationContext.None).ConfigureAwait(false);
                return Ok;
            }
            case "get":
            {
                if (positional.Count != 2) throw new UsageException("get takes the WAL file name (%f) and the destination path (%p).");
                var archive = await OpenAsync(Option("repo"), Optional("stanza"), passphrase).ConfigureAwait(false);
                var get = new WalGetOptions { Prefetch = Optional("prefetch") is { } p ? ParseInt(p, "--prefetch") : 4 };
                var result = await archive.GetAsync(positional[0], positional[1], get, OperationContext.None).ConfigureAwait(false);
                return result is null ? NotFound : Ok;
            }
            case "stream":
            {
                if (positional.Count != 0) throw new UsageException("stream takes options only.");
                string repo = Option("repo");
                var archive = await OpenAsync(repo, Optional("stanza"), passphrase).ConfigureAwait(false);
                var connection = PgConnectionInfo.Resolve(host: Optional("host"), port: Optional("port") is { } port ? ParseInt(port, "--port", 65535) : null,
                    username: Optional("user"));
                var stream = new WalStreamOptions
                {
                    Slot = Optional("slot"),
                    CreateSlot = options.ContainsKey("create-slot"),
                    Synchronous = options.ContainsKey("synchronous"),
                    ApplicationName = Optional("application-name"),
                    FlushInterval = Optional("flush-interval") is { } f
                        ? TimeSpan.FromSeconds(double.Parse(f, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture)) : TimeSpan.FromMilliseconds(500),
                    Push = new WalPushOptions { Compression = Optional("compression") is { } c ? ParseCompression(c) : CompressionKind.Zstd },
                };
                return await StreamAsync(archive, archive.Repository.Store.Location, connection, stream).ConfigureAwait(false);
            }
            case "version":
                Console.Out.WriteLine("pgbt-wal " + Core.Repository.BackupRepository.ToolVersion);
                return Ok;
            default:
                throw new UsageException($"unknown command '{args[0]}'.");
        }
    }

    /// <summary>
    /// Loads and initializes OpenSSL (libcrypto: every digest) and libzstd on a thread of their own while the main
    /// thread opens the repository: in a push of a 16 MiB segment the first SHA-256 otherwise waited ~5 ms for them,
    /// on the longest chain of the push. Nothing waits for this thread; a failure here shows again where it matters.
    /// </summary>
    private static void WarmUp()
    {
        var thread = new Thread(static () =>
        {
            try
            {
                using (System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256)) { }
                WalArchive.LoadNativeLibraries();
            }
            catch (Exception)
            {
            }
        }) { IsBackground = true, Name = "pgbt-wal warm-up" };
        thread.Start();
    }

    /// <summary>Streams until SIGTERM, SIGINT or a stop request (Stop-PgWalStream); every line goes to stderr (the journal).</summary>
    private static async Task<int> StreamAsync(WalArchive archive, string repository, PgConnectionInfo connection, WalStreamOptions options)
    {
        using var control = WalStreamControl.Acquire(repository, archive.Stanza, options.Slot);
        using var stop = new CancellationTokenSource();
        void OnSignal(System.Runtime.InteropServices.PosixSignalContext context)
        {
            context.Cancel = true; // no abrupt exit: the receiver flushes its partial first
            stop.Cancel();
        }
        using var term = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, OnSignal);
        using var interrupt = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGINT, OnSignal);
        _ = control.WaitForStopRequestAsync(stop.Token).ContinueWith(t => { if (t.IsCompletedSuccessfully) stop.Cancel(); }, TaskScheduler.Default);
        var context = new OperationContext
        {
            CancellationToken = stop.Token,
            Verbose = message => Console.Error.WriteLine("pgbt-wal stream: " + message),
            Warning = message => Console.Error.WriteLine("pgbt-wal stream: WARNING: " + message),
        };
        var receiver = new WalStreamReceiver(archive, connection, options);
        var state = await receiver.RunAsync(context).ConfigureAwait(false);
        await Console.Error.WriteLineAsync($"pgbt-wal stream: stopped; durable through {state.FlushLsn} on timeline {state.Timeline}.").ConfigureAwait(false);
        return Ok;
    }

    /// <summary>Opens the archive; a repository that cannot be unlocked (no passphrase, unreadable key file) is an <see cref="ArchiveLockedException"/>.</summary>
    private static async Task<WalArchive> OpenAsync(string repo, string? stanza, PassphraseSource? passphrase)
    {
        try
        {
            return await WalArchive.OpenAsync(repo, stanza, CancellationToken.None, passphrase).ConfigureAwait(false);
        }
        catch (PgBackupException e) when (e.Kind is FailureKind.InvalidArgument or FailureKind.PermissionDenied)
        {
            // The repository was found and read; its key could not be had (or a key file was given for a plain repository).
            throw new ArchiveLockedException(e.Message, e);
        }
    }

    private static (List<string> Positional, Dictionary<string, string> Options) Parse(ReadOnlySpan<string> args)
    {
        var positional = new List<string>();
        var options = new Dictionary<string, string>(StringComparer.Ordinal);
        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            if (a.StartsWith("--", StringComparison.Ordinal))
            {
                string name = a[2..], value;
                int eq = name.IndexOf('=');
                if (name is "create-slot" or "synchronous") { options[name] = "true"; continue; }
                if (eq >= 0) { value = name[(eq + 1)..]; name = name[..eq]; }
                else if (i + 1 < args.Length) value = args[++i];
                else throw new UsageException($"{a} needs a value.");
                if (name is "passphrase" or "passphrase-env" or "key")
                    throw new UsageException($"--{name}: a passphrase is never taken as an argument (every user can read process arguments). " +
                        $"Use --passphrase-file <path> (chmod 600) or the environment variable {RepositoryPassphrase.DefaultVariable}.");
                if (name is not ("repo" or "stanza" or "compression" or "level" or "prefetch" or "passphrase-file" or "host" or "port" or "user"
                    or "slot" or "application-name" or "flush-interval" or "create-slot" or "synchronous")) throw new UsageException($"unknown option {a}.");
                options[name] = value;
            }
            else positional.Add(a);
        }
        return (positional, options);
    }

    private static CompressionKind ParseCompression(string value) => value.ToLowerInvariant() switch
    {
        "zstd" => CompressionKind.Zstd,
        "gzip" or "gz" => CompressionKind.Gzip,
        "none" => CompressionKind.None,
        _ => throw new UsageException($"--compression {value}: use zstd, gzip or none."),
    };

    private static int ParseInt(string value, string option, int max = 64) =>
        int.TryParse(value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n) && n <= max
            ? n : throw new UsageException($"{option} {value}: give a whole number from 0 to {max}.");

    private sealed class UsageException(string message) : Exception(message);

    private sealed class ArchiveLockedException(string message, Exception inner) : Exception(message, inner);
}
