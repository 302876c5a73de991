using System.Diagnostics;
using System.Net;
using PgBackupTools;
using PgBackupTools.Core.Storage;
using PgBackupTools.TestKit;

// Streams N MiB of incompressible-looking data (1 MiB writes, like the backup copy loop) into each store and reports
// MiB/s and the process's peak working set; the emulators run on this machine, so both sides share its cores.
int mib = args.Length > 0 ? int.Parse(args[0]) : 500;
var chunk = new byte[1 << 20];
new Random(42).NextBytes(chunk);

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
    peak = Math.Max(peak, Process.GetCurrentProcess().PeakWorkingSet64);
    await store.DeleteAsync("bench/object", default);
    return (mib / s, peak);
}

var dir = Path.Combine(Path.GetTempPath(), "pgbt-bench-" + Guid.NewGuid().ToString("N")[..6]);
var fs = await Run(new FileSystemStore(dir));
Directory.Delete(dir, true);
Console.WriteLine($"filesystem: {fs.Item1,8:F1} MiB/s  peak working set {fs.Item2 >> 20} MiB");

using (var s3 = S3rverEmulator.Start("bench"))
{
    var o = new PgRepository { Location = "s3://bench/b", EndpointUrl = s3.Endpoint, AccessKeyId = "S3RVER", SecretAccessKey = new NetworkCredential("", "S3RVER").SecurePassword };
    var r = await Run(ObjectStoreFactory.Create(o.Location, o));
    Console.WriteLine($"s3rver:     {r.Item1,8:F1} MiB/s  peak working set {r.Item2 >> 20} MiB  ({fs.Item1 / r.Item1:F2}x slower than filesystem)");
}
using (var az = AzuriteEmulator.Start())
{
    az.CreateContainer("bench");
    var o = new PgRepository { Location = "az://devstoreaccount1/bench/b", EndpointUrl = az.BlobEndpoint, AccountKey = new NetworkCredential("", AzuriteEmulator.AccountKey).SecurePassword };
    var r = await Run(ObjectStoreFactory.Create(o.Location, o));
    Console.WriteLine($"azurite:    {r.Item1,8:F1} MiB/s  peak working set {r.Item2 >> 20} MiB  ({fs.Item1 / r.Item1:F2}x slower than filesystem)");
}
