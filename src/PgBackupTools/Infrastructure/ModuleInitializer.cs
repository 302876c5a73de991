using System.Management.Automation;
using System.Reflection;
using System.Runtime.Loader;

namespace PgBackupTools.Infrastructure;

/// <summary>
/// Keeps the module's dependencies (the core, Npgsql, compression and cloud SDKs) in a private
/// AssemblyLoadContext, so the module imports beside Az, AWS.Tools or any other module that loaded different
/// versions of the same assemblies. Only this assembly sits in the module folder; everything else is in
/// dependencies/, where the default context cannot find it. The default context asks us for the core (the one
/// assembly the cmdlets use directly), and the core's own references then resolve inside the private context.
/// </summary>
public sealed class ModuleInitializer : IModuleAssemblyInitializer, IModuleAssemblyCleanup
{
    private const string BridgeAssembly = "PgBackupTools.Core";
    private static readonly string DependencyDirectory =
        Path.Combine(Path.GetDirectoryName(typeof(ModuleInitializer).Assembly.Location)!, "dependencies");
    private static readonly DependencyLoadContext Dependencies = new(DependencyDirectory);

    public void OnImport() => AssemblyLoadContext.Default.Resolving += ResolveBridge;

    public void OnRemove(PSModuleInfo module) => AssemblyLoadContext.Default.Resolving -= ResolveBridge;

    private static Assembly? ResolveBridge(AssemblyLoadContext context, AssemblyName name) =>
        name.Name == BridgeAssembly ? Dependencies.LoadFromAssemblyName(name) : null;

    private sealed class DependencyLoadContext(string directory) : AssemblyLoadContext("PgBackupTools.Dependencies")
    {
        protected override Assembly? Load(AssemblyName name)
        {
            var path = Path.Combine(directory, name.Name + ".dll");
            return File.Exists(path) ? LoadFromAssemblyPath(path) : null;
        }

        protected override IntPtr LoadUnmanagedDll(string unmanagedDllName)
        {
            var path = Path.Combine(directory, unmanagedDllName);
            return File.Exists(path) ? LoadUnmanagedDllFromPath(path) : IntPtr.Zero;
        }
    }
}
