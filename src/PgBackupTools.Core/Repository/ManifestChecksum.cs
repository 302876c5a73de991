using System.Security.Cryptography;
using System.Text.Json;

namespace PgBackupTools.Core.Repository;

/// <summary>
/// The SHA-256 a manifest carries of its own text, so a byte flipped in manifest.json is caught like a byte flipped in a
/// data file (an encrypted repository has the HMAC beside it as well). The checksum is the manifest's first property,
/// taken over everything after it: <c>{⏎  "manifestSha256": "&lt;hex&gt;",&lt;the rest&gt;</c>. Readers that do not know
/// it skip an unknown property. A manifest written before it existed starts with <c>"manifestVersion"</c> and is read as
/// it is; any other start is damage (one flipped byte cannot turn one start into the other).
/// </summary>
internal static class ManifestChecksum
{
    private static ReadOnlySpan<byte> SealedStart => "  \"manifestSha256\": \""u8;
    private static ReadOnlySpan<byte> UnsealedStart => "  \"manifestVersion\": "u8;
    private const int HexLength = 64;

    /// <summary><paramref name="json"/> (an indented object, as the repository writes it) with its checksum put first.</summary>
    public static byte[] Seal(byte[] json)
    {
        int bodyStart = FirstPropertyAt(json);
        if (bodyStart < 0) throw new ArgumentException("Not an indented JSON object.", nameof(json));
        var body = json.AsSpan(1); // from the newline after "{": what the checksum line is followed by
        string hex = Convert.ToHexString(SHA256.HashData(body)).ToLowerInvariant();
        return [.. json.AsSpan(0, bodyStart), .. SealedStart, .. System.Text.Encoding.ASCII.GetBytes(hex + "\","), .. body];
    }

    /// <summary>Throws <see cref="JsonException"/> (as for any unreadable manifest) when the checksum does not hold.</summary>
    public static void Verify(ReadOnlySpan<byte> json)
    {
        int at = FirstPropertyAt(json);
        if (at < 0) throw new JsonException("it is not a manifest written by PgBackupTools");
        var rest = json[at..];
        if (rest.StartsWith(UnsealedStart)) return; // written before manifests carried a checksum
        if (!rest.StartsWith(SealedStart) || rest.Length < SealedStart.Length + HexLength + 2 || rest[SealedStart.Length + HexLength] != (byte)'"' ||
            rest[SealedStart.Length + HexLength + 1] != (byte)',')
            throw new JsonException("its checksum line is damaged, so its content cannot be trusted");
        string recorded = System.Text.Encoding.ASCII.GetString(rest.Slice(SealedStart.Length, HexLength));
        string actual = Convert.ToHexString(SHA256.HashData(rest[(SealedStart.Length + HexLength + 2)..])).ToLowerInvariant();
        if (recorded != actual)
            throw new JsonException($"it fails its checksum (SHA-256 {actual}, it records {recorded}): it was damaged after the backup wrote it");
    }

    /// <summary>Where the first property's line starts: after "{" and a \n or \r\n; -1 if the text does not start so.</summary>
    private static int FirstPropertyAt(ReadOnlySpan<byte> json)
    {
        if (json.StartsWith("{\n"u8)) return 2;
        if (json.StartsWith("{\r\n"u8)) return 3;
        return -1;
    }
}
