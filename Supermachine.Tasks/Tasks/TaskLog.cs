using Microsoft.Build.Utilities;
using Supermachine.Diagnostics;

namespace Supermachine.Tasks;

internal static class TaskLog
{
    /// <summary>Logs a coded failure as an MSBuild error with its SM code, attributed to the project file.</summary>
    public static void Error(TaskLoggingHelper log, SupermachineException e, string projectFile) =>
        log.LogError(subcategory: null, errorCode: e.Code, helpKeyword: null, file: projectFile,
            lineNumber: 0, columnNumber: 0, endLineNumber: 0, endColumnNumber: 0, message: e.Text);
}
