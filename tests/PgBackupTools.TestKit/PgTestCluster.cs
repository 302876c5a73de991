using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace PgBackupTools.TestKit;

/// <summary>
/// A throwaway PostgreSQL cluster for tests: initdb in a temp folder, a free port, the socket in the same folder,
/// stopped and removed on Dispose. As root every server command runs as the 'postgres' system user, because
/// PostgreSQL refuses to run as root. xunit and Pester both use this class (Pester loads the assembly).
/// </summary>
public sealed class PgTestCluster : IDisposable
{
    private const string DirectoryPrefix = "pgbt-test-";
    private bool _disposed;
    private IReadOnlyDictionary<string, string>? _environment;

    public string Directory { get; }
    public string DataDirectory => Path.Combine(Directory, "data");
    public string SocketDirectory => Directory;
    public string LogFile => Path.Combine(Directory, "server.log");
    public int Port { get; private set; }
    public string BinDirectory { get; }
    public string Host => "127.0.0.1";
    public string SuperUser => "postgres";

    private PgTestCluster(string directory, int port, string binDirectory)
    {
        Directory = directory;
        Port = port;
        BinDirectory = binDirectory;
    }

    /// <summary>Starts a new cluster with data checksums, wal_level=replica and password auth for every role but postgres over TCP.</summary>
    public static PgTestCluster Start(string? extraConfig = null) => Start(extraConfig, null);

    /// <summary>As <see cref="Start(string?)"/>, with variables added to the server's environment (what archive_command inherits).</summary>
    public static PgTestCluster Start(string? extraConfig, IReadOnlyDictionary<string, string>? environment) => Start(extraConfig, environment, port: null);

    /// <summary>As <see cref="Start(string?, IReadOnlyDictionary{string, string}?)"/>, trying <paramref name="port"/> first (a free one when null).</summary>
    public static PgTestCluster Start(string? extraConfig, IReadOnlyDictionary<string, string>? environment, int? port)
    {
        RemoveAbandonedClusters();
        string bin = FindBinDirectory();
        string dir = Path.Combine(Path.GetTempPath(), DirectoryPrefix + Guid.NewGuid().ToString("N")[..12]);
        System.IO.Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "owner.pid"), Environment.ProcessId.ToString());
        GiveToServerUser(dir);
        var cluster = new PgTestCluster(dir, port ?? FindFreePort(), bin) { _environment = environment };
        try
        {
            cluster.InitDb(extraConfig);
            cluster.StartOnAFreePort();
            return cluster;
        }
        catch
        {
            cluster.Dispose();
            throw;
        }
    }

    public string ConnectionString(string database = "postgres", string? user = null, string? password = null)
    {
        var cs = $"Host={Host};Port={Port};Username={user ?? SuperUser};Database={Quote(database)};Pooling=false";
        return password is null ? cs : cs + $";Password={Quote(password)}";
    }

    private static string Quote(string value) => "'" + value.Replace("'", "''") + "'";

    /// <summary>Runs SQL with psql over the socket as the superuser and returns its unaligned output.</summary>
    public string Psql(string sql, string database = "postgres")
    {
        var psi = new ProcessStartInfo(Path.Combine(BinDirectory, "psql"))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
        };
        foreach (var a in new[] { "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", SocketDirectory, "-p", Port.ToString(), "-U", SuperUser, "-d", database, "-f", "-" })
            psi.ArgumentList.Add(a);
        var (code, stdout, stderr) = Run(psi, sql);
        if (code != 0) throw new InvalidOperationException($"psql failed ({code}): {stderr.Trim()}");
        return stdout.TrimEnd('\n');
    }

    public void CreateDatabase(string name) => Psql($"CREATE DATABASE \"{name.Replace("\"", "\"\"")}\"");

    public void Stop(string mode = "fast") => RunPgCtl("-D", DataDirectory, "-m", mode, "-w", "stop");

    public void StartServer() => RunAsServerUser(Path.Combine(BinDirectory, "pg_ctl"), _environment, "-D", DataDirectory, "-l", LogFile, "-w", "-t", "60", "start");

    public bool IsRunning => File.Exists(Path.Combine(DataDirectory, "postmaster.pid"));

    /// <summary>
    /// FindFreePort's port is free only when it looks: until the server binds it, seconds later, another process may
    /// take it (another test run's FindFreePort, a listener, an outgoing connection). A start that loses that race
    /// moves to another free port, up to three times, instead of failing the test.
    /// </summary>
    private void StartOnAFreePort()
    {
        for (int attempt = 1; ; attempt++)
        {
            long logged = File.Exists(LogFile) ? new FileInfo(LogFile).Length : 0;
            try
            {
                StartServer();
                return;
            }
            catch (InvalidOperationException) when (attempt < 3 && LogSince(logged).Contains("Address already in use", StringComparison.Ordinal))
            {
                Port = FindFreePort();
                File.AppendAllText(Path.Combine(DataDirectory, "postgresql.conf"), $"port = {Port}\n");
            }
        }
    }

    private string LogSince(long offset)
    {
        if (!File.Exists(LogFile)) return "";
        using var log = new FileStream(LogFile, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        log.Seek(Math.Min(offset, log.Length), SeekOrigin.Begin);
        return new StreamReader(log).ReadToEnd();
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        try { if (IsRunning) Stop("immediate"); } catch { /* best effort: the directory goes anyway */ }
        try { System.IO.Directory.Delete(Directory, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    private void InitDb(string? extraConfig)
    {
        RunAsServerUser(Path.Combine(BinDirectory, "initdb"), "-D", DataDirectory, "-U", SuperUser, "--auth-local=trust",
            "--auth-host=scram-sha-256", "--data-checksums", "-E", "UTF8", "--locale=C.UTF-8");
        File.AppendAllText(Path.Combine(DataDirectory, "postgresql.conf"), $"""

            listen_addresses = '127.0.0.1'
            port = {Port}
            unix_socket_directories = '{SocketDirectory}'
            wal_level = replica
            max_wal_senders = 10
            max_replication_slots = 10
            shared_buffers = 64MB
            fsync = off
            log_min_messages = warning
            {extraConfig}
            """);
        // The superuser is trusted over TCP (the tests' own connections); every other role must give its password.
        string hba = Path.Combine(DataDirectory, "pg_hba.conf");
        File.WriteAllText(hba, $"""
            local all all trust
            local replication all trust
            host all {SuperUser} 127.0.0.1/32 trust
            host replication {SuperUser} 127.0.0.1/32 trust
            host all all 127.0.0.1/32 scram-sha-256
            host replication all 127.0.0.1/32 scram-sha-256

            """);
    }

    private void RunPgCtl(params string[] args) => RunAsServerUser(Path.Combine(BinDirectory, "pg_ctl"), args);

    private static bool IsRoot => Environment.UserName == "root";

    /// <summary>Runs a command as the cluster owner: 'postgres' via runuser when we are root, ourselves otherwise.</summary>
    public static void RunAsServerUser(string program, params string[] args) => RunAsServerUser(program, null, args);

    public static void RunAsServerUser(string program, IReadOnlyDictionary<string, string>? environment, params string[] args)
    {
        var psi = IsRoot ? new ProcessStartInfo("runuser") : new ProcessStartInfo(program);
        foreach (var (name, value) in environment ?? new Dictionary<string, string>()) psi.Environment[name] = value;
        if (IsRoot) { psi.ArgumentList.Add("-u"); psi.ArgumentList.Add("postgres"); psi.ArgumentList.Add("--"); psi.ArgumentList.Add(program); }
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.RedirectStandardOutput = true;
        psi.RedirectStandardError = true;
        psi.RedirectStandardInput = true;
        var (code, stdout, stderr) = Run(psi, "");
        if (code != 0)
            throw new InvalidOperationException($"{Path.GetFileName(program)} {string.Join(' ', args)} failed ({code}): {stderr.Trim()} {stdout.Trim()}");
    }

    /// <summary>Makes a path (created by us, possibly as root) usable by the server user.</summary>
    public static void GiveToServerUser(string path)
    {
        if (!IsRoot) return;
        var psi = new ProcessStartInfo("chown") { RedirectStandardError = true, RedirectStandardOutput = true, RedirectStandardInput = true };
        foreach (var a in new[] { "-R", "postgres:postgres", path }) psi.ArgumentList.Add(a);
        var (code, _, stderr) = Run(psi, "");
        if (code != 0) throw new InvalidOperationException($"chown {path} failed: {stderr}");
    }

    private static (int Code, string Stdout, string Stderr) Run(ProcessStartInfo psi, string stdin)
    {
        psi.UseShellExecute = false;
        using var p = Process.Start(psi)!;
        var outTask = p.StandardOutput.ReadToEndAsync();
        var errTask = p.StandardError.ReadToEndAsync();
        p.StandardInput.Write(stdin);
        p.StandardInput.Close();
        if (!p.WaitForExit(120_000))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{psi.FileName} did not finish in 120 s");
        }
        return (p.ExitCode, outTask.Result, errTask.Result);
    }

    public static string FindBinDirectory()
    {
        var fromEnv = Environment.GetEnvironmentVariable("PGBIN");
        if (!string.IsNullOrEmpty(fromEnv)) return fromEnv;
        var versions = System.IO.Directory.Exists("/usr/lib/postgresql")
            ? System.IO.Directory.GetDirectories("/usr/lib/postgresql")
                .Select(d => (Dir: Path.Combine(d, "bin"), Ok: int.TryParse(Path.GetFileName(d), out var v), Version: v))
                .Where(x => x.Ok && File.Exists(Path.Combine(x.Dir, "initdb")))
                .OrderByDescending(x => x.Version).ToList()
            : [];
        if (versions.Count > 0) return versions[0].Dir;
        var initdb = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator)
            .FirstOrDefault(d => File.Exists(Path.Combine(d, "initdb")));
        return initdb ?? throw new InvalidOperationException("PostgreSQL server binaries (initdb) not found: install postgresql or set PGBIN.");
    }

    public static int FindFreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Stops and removes clusters left behind by test processes that were killed before they could clean up.</summary>
    private static void RemoveAbandonedClusters()
    {
        foreach (var dir in System.IO.Directory.GetDirectories(Path.GetTempPath(), DirectoryPrefix + "*"))
        {
            var ownerFile = Path.Combine(dir, "owner.pid");
            if (!File.Exists(ownerFile) || !int.TryParse(File.ReadAllText(ownerFile), out var pid)) continue;
            if (System.IO.Directory.Exists($"/proc/{pid}")) continue;
            var abandoned = new PgTestCluster(dir, 0, FindBinDirectory());
            abandoned.Dispose();
        }
    }
}
