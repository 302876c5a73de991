using System.Diagnostics;

namespace PgBackupTools.TestKit;

/// <summary>
/// An object-store emulator from tests/emulators/node_modules (installed by .ci/setup), started on 127.0.0.1 on a free
/// port with a throwaway data folder, and stopped and removed on Dispose. <see cref="Stop"/> stops it early, to
/// test a store that is down.
/// </summary>
public abstract class StoreEmulator : IDisposable
{
    private Process? _process;
    private readonly System.Text.StringBuilder _output = new();
    public string Host => "127.0.0.1";
    public int Port { get; private set; }
    public string DataDirectory { get; }
    public string Endpoint => $"http://{Host}:{Port}";

    protected StoreEmulator(string name, int? port = null)
    {
        Port = port ?? PgTestCluster.FindFreePort();
        DataDirectory = Path.Combine(Path.GetTempPath(), $"pgbt-{name}-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(DataDirectory);
    }

    protected abstract string Script { get; }
    protected abstract IEnumerable<string> Arguments { get; }
    /// <summary>What the emulator prints once it listens on <see cref="Port"/> (also with --silent).</summary>
    protected abstract string ReadyLine { get; }
    protected virtual void Configure(ProcessStartInfo psi) { }

    public static string EmulatorRoot
    {
        get
        {
            // From this assembly's folder (AppContext.BaseDirectory is pwsh's own folder when Pester loads the kit).
            var dir = new DirectoryInfo(Path.GetDirectoryName(typeof(StoreEmulator).Assembly.Location)!);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "PgBackupTools.sln"))) dir = dir.Parent;
            return Path.Combine(dir?.FullName ?? throw new InvalidOperationException("repository root not found"), "tests", "emulators");
        }
    }

    /// <summary>
    /// Starts the emulator and waits until it listens. The free port can be taken by another process before node binds
    /// it (its start-up takes a second): an emulator that exits with EADDRINUSE is started again on another port.
    /// </summary>
    protected void Launch()
    {
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                LaunchOnce();
                return;
            }
            catch (InvalidOperationException) when (attempt < 3 && Output.Contains("EADDRINUSE", StringComparison.Ordinal))
            {
                Stop();
                lock (_output) _output.Clear();
                Port = PgTestCluster.FindFreePort();
            }
        }
    }

    private void LaunchOnce()
    {
        string script = Path.Combine(EmulatorRoot, "node_modules", Script);
        if (!File.Exists(script))
            throw new InvalidOperationException($"{script} is missing: run 'npm ci' in tests/emulators (bash .ci/setup does).");
        var psi = new ProcessStartInfo("node") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(script);
        foreach (var a in Arguments) psi.ArgumentList.Add(a);
        Configure(psi);
        _process = Process.Start(psi)!;
        _process.OutputDataReceived += (_, e) => { lock (_output) _output.AppendLine(e.Data); };
        _process.ErrorDataReceived += (_, e) => { lock (_output) _output.AppendLine(e.Data); };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            if (_process.HasExited)
            {
                _process.WaitForExit(); // the output handlers finish only then
                throw new InvalidOperationException($"{GetType().Name} exited at start: {Output}");
            }
            // Its own word that it bound the port: a connect could reach whoever else holds it.
            if (Output.Contains(ReadyLine, StringComparison.Ordinal)) return;
            Thread.Sleep(100);
        }
        Stop();
        throw new TimeoutException($"{GetType().Name} did not listen on {Endpoint} within 60 s: {Output}");
    }

    public string Output { get { lock (_output) return _output.ToString(); } }

    public bool IsRunning => _process is { HasExited: false };

    /// <summary>Stops the emulator (the port then refuses connections).</summary>
    public void Stop()
    {
        if (_process is null) return;
        try
        {
            if (!_process.HasExited) { _process.Kill(entireProcessTree: true); _process.WaitForExit(10_000); }
        }
        catch (InvalidOperationException) { }
        _process.Dispose();
        _process = null;
    }

    /// <summary>Starts a stopped emulator again on its port and data folder, as a store that comes back after an outage.</summary>
    public void Restart()
    {
        Stop();
        lock (_output) _output.Clear(); // the ready line of the first start is no answer for this one
        Launch();
    }

    public void Dispose()
    {
        Stop();
        try { Directory.Delete(DataDirectory, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        GC.SuppressFinalize(this);
    }
}

/// <summary>s3rver: a small S3 emulator. It checks request signatures (access key S3RVER, secret S3RVER), not checksums.</summary>
public sealed class S3rverEmulator : StoreEmulator
{
    public const string AccessKeyId = "S3RVER";
    public const string SecretAccessKey = "S3RVER";

    private S3rverEmulator(int? port = null) : base("s3rver", port) { }

    public static S3rverEmulator Start(params string[] buckets) => StartOn(null, buckets);

    /// <summary>Starts it on <paramref name="port"/> first (a test of what happens when that port is taken).</summary>
    public static S3rverEmulator StartOn(int? port, params string[] buckets)
    {
        var emulator = new S3rverEmulator(port) { _buckets = buckets };
        emulator.Launch();
        return emulator;
    }

    private string[] _buckets = [];
    protected override string Script => "s3rver/bin/s3rver.js";
    protected override string ReadyLine => $"listening on {Host}:{Port}";
    protected override IEnumerable<string> Arguments
    {
        get
        {
            string[] args = ["--address", Host, "--port", Port.ToString(), "--directory", DataDirectory, "--silent"];
            return args.Concat(_buckets.SelectMany(b => new[] { "--configure-bucket", b }));
        }
    }

    // s3rver's list paging signs continuation tokens with a cipher that OpenSSL 3 keeps in its legacy provider.
    protected override void Configure(ProcessStartInfo psi) => psi.Environment["NODE_OPTIONS"] = "--openssl-legacy-provider";
}

/// <summary>Azurite's blob service. It checks Shared Key signatures of its well-known account; not CRC64 transfer checksums.</summary>
public sealed class AzuriteEmulator : StoreEmulator
{
    public const string AccountName = "devstoreaccount1";
    public const string AccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    private AzuriteEmulator() : base("azurite") { }

    public static AzuriteEmulator Start()
    {
        var emulator = new AzuriteEmulator();
        emulator.Launch();
        return emulator;
    }

    public string BlobEndpoint => $"{Endpoint}/{AccountName}";
    public string ConnectionString => $"DefaultEndpointsProtocol=http;AccountName={AccountName};AccountKey={AccountKey};BlobEndpoint={BlobEndpoint};";

    /// <summary>Creates a container with one Shared Key signed REST call (so Pester needs no Azure SDK of its own).</summary>
    public void CreateContainer(string name)
    {
        using var http = new HttpClient();
        var request = new HttpRequestMessage(HttpMethod.Put, $"{BlobEndpoint}/{name}?restype=container");
        string date = DateTime.UtcNow.ToString("R");
        const string version = "2021-08-06";
        request.Headers.Add("x-ms-date", date);
        request.Headers.Add("x-ms-version", version);
        string toSign = $"PUT\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:{date}\nx-ms-version:{version}\n/{AccountName}/{AccountName}/{name}\nrestype:container";
        using var hmac = new System.Security.Cryptography.HMACSHA256(Convert.FromBase64String(AccountKey));
        string signature = Convert.ToBase64String(hmac.ComputeHash(System.Text.Encoding.UTF8.GetBytes(toSign)));
        request.Headers.TryAddWithoutValidation("Authorization", $"SharedKey {AccountName}:{signature}");
        var response = http.Send(request);
        if (!response.IsSuccessStatusCode && response.StatusCode != System.Net.HttpStatusCode.Conflict)
            throw new InvalidOperationException($"Creating container {name} in Azurite failed: {(int)response.StatusCode} {response.Content.ReadAsStringAsync().Result}");
    }

    /// <summary>The names of the committed blobs of a container under <paramref name="prefix"/>, by one Shared Key signed List Blobs call.</summary>
    public IReadOnlyList<string> ListBlobs(string container, string prefix)
    {
        using var http = new HttpClient();
        var request = new HttpRequestMessage(HttpMethod.Get, $"{BlobEndpoint}/{container}?restype=container&comp=list&prefix={Uri.EscapeDataString(prefix)}");
        string date = DateTime.UtcNow.ToString("R");
        const string version = "2021-08-06";
        request.Headers.Add("x-ms-date", date);
        request.Headers.Add("x-ms-version", version);
        string toSign = $"GET\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:{date}\nx-ms-version:{version}\n/{AccountName}/{AccountName}/{container}\ncomp:list\nprefix:{prefix}\nrestype:container";
        using var hmac = new System.Security.Cryptography.HMACSHA256(Convert.FromBase64String(AccountKey));
        string signature = Convert.ToBase64String(hmac.ComputeHash(System.Text.Encoding.UTF8.GetBytes(toSign)));
        request.Headers.TryAddWithoutValidation("Authorization", $"SharedKey {AccountName}:{signature}");
        var response = http.Send(request);
        string body = response.Content.ReadAsStringAsync().Result;
        if (!response.IsSuccessStatusCode) throw new InvalidOperationException($"Listing container {container} in Azurite failed: {(int)response.StatusCode} {body}");
        return System.Xml.Linq.XDocument.Parse(body).Descendants("Blob").Select(b => b.Element("Name")!.Value).ToList();
    }

    protected override string Script => "azurite/dist/src/blob/main.js";
    protected override string ReadyLine => $"successfully listens on http://{Host}:{Port}";
    protected override IEnumerable<string> Arguments =>
        ["--blobHost", Host, "--blobPort", Port.ToString(), "--location", DataDirectory, "--silent", "--skipApiVersionCheck", "--loose", "--disableProductStyleUrl"];
}
