using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using Azure.Storage;
using Azure.Storage.Sas;
using PgBackupTools;
using PgBackupTools.Core.Storage;
using PgBackupTools.TestKit;

// Streams N MiB of incompressible data (1 MiB writes, like the backup copy loop) into each store and reports MiB/s and
// the process's peak working set. Beside each store, the emulator's own ceiling: the same bytes PUT as part-sized
// objects with a bare HttpClient, as many at once as the store sends parts (no SDK, no signing, no hashing), which is
// as fast as that emulator takes data on this machine. The emulators run here too, so both sides share the cores.
// Output: one tab-separated line per row (name, MiB/s, peak MiB), for tests/bench/Invoke-Benchmark.ps1.
// Arguments: MiB [part MiB] [parts in flight]; the defaults are the stores' own (8 MiB, 4).
int mib = args.Length > 0 ? int.Parse(args[0]) : 500;
int PartSize = (args.Length > 1 ? int.Parse(args[1]) : 8) << 20, Parallel = args.Length > 2 ? int.Parse(args[2]) : 4;
var chunk = new byte[1 << 20];
new Random(42).NextBytes(chunk);
var part = new byte[PartSize];
new Random(7).NextBytes(part);

async Task<(double, long)> Run(IObjectStore store)
{
    GC.Collect();
    var sw = Stopwatch.StartNew();
    long peak = 0;
    await using (var w = await store.CreateAsync("bench/object", overwrite: true, default))
    {
        for (int i = 0; i < mib; i++)
        {
            chunk[0] = (byte)i;
            await w.WriteAsync(chunk);
            if (i % 16 == 0) peak = Math.Max(peak, Process.GetCurrentProcess().WorkingSet64);
        }
        await w.CommitAsync(default);
    }
    var s = sw.Elapsed.TotalSeconds;
    peak = Math.Max(peak, Process.GetCurrentProcess().WorkingSet64);
    await store.DeleteAsync("bench/object", default);
    return (mib / s, peak);
}

// The ceiling: mib / 8 PUTs of one 8 MiB body, Parallel at a time, over one pooled HttpClient.
async Task<double> Raw(Func<int, HttpRequestMessage> request)
{
    using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = Parallel }) { Timeout = TimeSpan.FromMinutes(5) };
    int parts = Math.Max(1, mib * (1 << 20) / PartSize), next = 0;
    var sw = Stopwatch.StartNew();
    await Task.WhenAll(Enumerable.Range(0, Parallel).Select(async _ =>
    {
        for (int n; (n = Interlocked.Increment(ref next)) <= parts;)
        {
            using var message = request(n);
            using var response = await http.SendAsync(message);
            if (!response.IsSuccessStatusCode) throw new InvalidOperationException($"raw PUT {n}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        }
    }));
    return parts * (double)PartSize / (1 << 20) / sw.Elapsed.TotalSeconds;
}

async Task<double> RawMultipart(string objectUrl)
{
    using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = Parallel }) { Timeout = TimeSpan.FromMinutes(10) };
    var sw = Stopwatch.StartNew();
    var initiated = await (await http.PostAsync(objectUrl + "?uploads", null)).EnsureSuccessStatusCode().Content.ReadAsStringAsync();
    string uploadId = System.Xml.Linq.XDocument.Parse(initiated).Descendants().First(e => e.Name.LocalName == "UploadId").Value;
    int parts = Math.Max(1, mib * (1 << 20) / PartSize), next = 0;
    var etags = new string[parts];
    await Task.WhenAll(Enumerable.Range(0, Parallel).Select(async _ =>
    {
        for (int n; (n = Interlocked.Increment(ref next)) <= parts;)
        {
            using var response = await http.PutAsync($"{objectUrl}?partNumber={n}&uploadId={Uri.EscapeDataString(uploadId)}", Body());
            response.EnsureSuccessStatusCode();
            etags[n - 1] = response.Headers.ETag!.Tag;
        }
    }));
    var complete = "<CompleteMultipartUpload>" + string.Concat(etags.Select((e, i) => $"<Part><PartNumber>{i + 1}</PartNumber><ETag>{e}</ETag></Part>")) + "</CompleteMultipartUpload>";
    (await http.PostAsync($"{objectUrl}?uploadId={Uri.EscapeDataString(uploadId)}", new StringContent(complete))).EnsureSuccessStatusCode();
    return parts * (double)PartSize / (1 << 20) / sw.Elapsed.TotalSeconds;
}

ByteArrayContent Body()
{
    var content = new ByteArrayContent(part);
    content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
    return content;
}

void Row(string name, double mibPerSecond, long peakBytes) =>
    Console.WriteLine($"{name}\t{mibPerSecond:F1}\t{(peakBytes > 0 ? (peakBytes >> 20).ToString() : "-")}");

Console.WriteLine($"# {mib} MiB per store, part {PartSize >> 20} MiB, {Parallel} in flight, {Environment.ProcessorCount} cores, load {File.ReadAllText("/proc/loadavg").Split(' ')[0]}");
var dir = Path.Combine(Path.GetTempPath(), "pgbt-bench-" + Guid.NewGuid().ToString("N")[..6]);
var fs = await Run(new FileSystemStore(dir));
Directory.Delete(dir, true);
Row("filesystem-store", fs.Item1, fs.Item2);

using (var s3 = S3rverEmulator.Start("bench"))
{
    // s3rver takes unsigned requests, so the raw ceiling needs no signing at all.
    Row("s3rver-raw-put", await Raw(n => new HttpRequestMessage(HttpMethod.Put, $"{s3.Endpoint}/bench/raw/{n}") { Content = Body() }), 0);
    // The same bytes as one multipart upload (initiate, parts in parallel, complete), still without the SDK: the
    // ceiling for the protocol a streamed object of unknown size must use. s3rver joins the parts on complete.
    Row("s3rver-raw-multipart", await RawMultipart(s3.Endpoint + "/bench/rawmp"), 0);
    var o = new PgRepository { Location = "s3://bench/b", EndpointUrl = s3.Endpoint, AccessKeyId = "S3RVER", SecretAccessKey = new NetworkCredential("", "S3RVER").SecurePassword, PartSizeBytes = PartSize, MaxParallelParts = Parallel };
    var r = await Run(ObjectStoreFactory.Create(o.Location, o));
    Row("s3-store", r.Item1, r.Item2);
}
using (var az = AzuriteEmulator.Start())
{
    az.CreateContainer("bench");
    // A container SAS signed offline with the well-known account key: Put Blob without the SDK.
    var sas = new BlobSasBuilder(BlobContainerSasPermissions.Write | BlobContainerSasPermissions.Create, DateTimeOffset.UtcNow.AddHours(1)) { BlobContainerName = "bench" }
        .ToSasQueryParameters(new StorageSharedKeyCredential(AzuriteEmulator.AccountName, AzuriteEmulator.AccountKey)).ToString();
    Row("azurite-raw-put", await Raw(n =>
    {
        var m = new HttpRequestMessage(HttpMethod.Put, $"{az.BlobEndpoint}/bench/raw/{n}?{sas}") { Content = Body() };
        m.Headers.Add("x-ms-blob-type", "BlockBlob");
        m.Headers.Add("x-ms-version", "2021-08-06");
        return m;
    }), 0);
    var o = new PgRepository { Location = "az://devstoreaccount1/bench/b", EndpointUrl = az.BlobEndpoint, AccountKey = new NetworkCredential("", AzuriteEmulator.AccountKey).SecurePassword, PartSizeBytes = PartSize, MaxParallelParts = Parallel };
    var r = await Run(ObjectStoreFactory.Create(o.Location, o));
    Row("azure-blob-store", r.Item1, r.Item2);
}
